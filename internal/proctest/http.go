package proctest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Conn is one keep-alive HTTP/1.1 client connection over raw TCP. It never retries and
// never reconnects, unlike net/http's and fasthttp's clients, which resend a failed
// idempotent request on a new connection without telling the caller: exactly the failure
// a drain test has to see. It is not safe for concurrent use.
type Conn struct {
	// Timeout bounds each Send and Receive; 0 means the package's Timeout.
	Timeout time.Duration

	conn net.Conn
	r    *textproto.Reader
}

// A Response is one complete response.
type Response struct {
	Status int
	Header textproto.MIMEHeader
	Body   string
}

// Close reports whether the server said it closes the connection after this response.
func (r *Response) Close() bool {
	return strings.EqualFold(r.Header.Get("Connection"), "close")
}

// Dial connects to addr.
func Dial(addr string) (*Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}, nil
}

// Open is Dial for a test: it fails the test if addr does not answer, and closes the
// connection when the test ends.
func Open(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// Get sends "GET target" and reads the response.
func (c *Conn) Get(target string) (*Response, error) {
	if err := c.Send(target); err != nil {
		return nil, err
	}
	return c.Receive()
}

// MustGet is Get that fails the test on an error.
func (c *Conn) MustGet(t testing.TB, target string) *Response {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp
}

// Send writes a GET request for target in one write.
func (c *Conn) Send(target string) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := io.WriteString(c.conn, "GET "+target+" HTTP/1.1\r\nHost: proctest\r\n\r\n")
	return err
}

// Receive reads one response. The body must be delimited by Content-Length (as fasthttp's
// are unless a handler streams) or by the server closing the connection.
func (c *Conn) Receive() (*Response, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout()))
	line, err := c.r.ReadLine()
	if err != nil {
		return nil, err
	}
	proto, status, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(status) < 3 {
		return nil, fmt.Errorf("proctest: malformed status line %q", line)
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil {
		return nil, fmt.Errorf("proctest: malformed status line %q", line)
	}
	header, err := c.r.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	resp := &Response{Status: code, Header: header}
	if te := header.Get("Transfer-Encoding"); te != "" {
		return nil, fmt.Errorf("proctest: Transfer-Encoding %q not supported", te)
	}
	var body []byte
	if cl := header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("proctest: malformed Content-Length %q", cl)
		}
		body = make([]byte, n)
		_, err = io.ReadFull(c.r.R, body)
		if err != nil {
			return nil, err
		}
	} else if body, err = io.ReadAll(c.r.R); err != nil {
		return nil, err
	}
	resp.Body = string(body)
	return resp, nil
}

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return Timeout
}
