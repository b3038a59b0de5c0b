package control

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// FuzzReadRequest feeds bytes to the control socket's request decoding. It must not
// panic, read more than maxRequestBytes, or answer an error of more than one line; a
// request it accepts, encoded again, decodes to itself.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		`{"command":"status"}` + "\n",
		`{"command":"status","usage":true}` + "\n",
		`{"command":"scale","arg":"+2"}` + "\n",
		`{"command":"logs","lines":100,"follow":true}` + "\n",
		`{"command":"reload","arg":"all"}` + "\n" + `{"command":"stop"}` + "\n",
		`{"command":"status"}`, // no newline: the client hung up
		`{"command":1}` + "\n", `{"lines":"many"}` + "\n", `[]` + "\n", "\n", "\xff\xfe\n",
		`{"command":"st\u00e9tus\ud800"}` + "\n", `{"command":"status","command":"stop"}` + "\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		r := &countingReader{r: bytes.NewReader(input)}
		req, err := DecodeRequest(r)
		if r.n > maxRequestBytes {
			t.Fatalf("read %d bytes for one request, more than %d", r.n, maxRequestBytes)
		}
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		line, _ := json.Marshal(req)
		again, err := DecodeRequest(bytes.NewReader(append(line, '\n')))
		if err != nil || again != req {
			t.Fatalf("%+v encoded as %s decodes to %+v, %v", req, line, again, err)
		}
	})
}

// TestReadRequestTooLong: a client that sends no newline is cut off at maxRequestBytes,
// not buffered until its deadline.
func TestReadRequestTooLong(t *testing.T) {
	r := &countingReader{r: io.MultiReader(strings.NewReader(`{"command":"`), neverEnding('x'))}
	_, err := DecodeRequest(r)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v, want one saying the request is too long", err)
	}
	if r.n > maxRequestBytes {
		t.Fatalf("read %d bytes, more than %d", r.n, maxRequestBytes)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
