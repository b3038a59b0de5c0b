package load

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	// Each response is followed by "NEXT" unless it ends at EOF: after a good response the
	// reader must stand exactly there.
	for _, c := range []struct {
		name, in string
		status   int
		close    bool
		worker   string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", 200, false, ""},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\nNEXT", 204, false, ""},
		{"bare LF and tabs", "HTTP/1.1 200 OK\ncontent-length:\t2\t\n\nokNEXT", 200, false, ""},
		{"worker pid", "HTTP/1.1 200 OK\r\nX-Worker-Pid:  4242 \r\nContent-Length: 0\r\n\r\nNEXT", 200, false, "4242"},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nNEXT", 200, true, ""},
		{"close in a list", "HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\nNEXT", 200, true, ""},
		{"1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nNEXT", 200, true, ""},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\nNEXT", 200, false, ""},
		{"body until EOF", "HTTP/1.1 200 OK\r\n\r\nall of this", 200, true, ""},
		{"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\nNEXT", 304, false, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3\r\nabc\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nNEXT", 200, false, ""},
		{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
			"1\r\nx\r\n0\r\nDigest: a\r\nMore: b\r\n\r\nNEXT", 200, false, ""},
		{"1xx skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
			"HTTP/1.1 500 Oops\r\nX-Worker-Pid: 7\r\nContent-Length: 1\r\n\r\nxNEXT", 500, false, "7"},
	} {
		br := bufio.NewReader(strings.NewReader(c.in))
		var r response
		if err := readResponse(br, &r); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		rest, _ := io.ReadAll(br)
		if r.status != c.status || r.close != c.close || string(r.worker) != c.worker ||
			(string(rest) != "NEXT" && !strings.HasSuffix(c.in, "all of this")) {
			t.Errorf("%s: got status %d close %v worker %q, rest %q", c.name, r.status, r.close, r.worker, rest)
		}
	}
}

func TestReadResponseErrors(t *testing.T) {
	var malformed protocolError
	for _, c := range []struct {
		name, in string
		want     error // io.EOF, io.ErrUnexpectedEOF or &malformed
	}{
		{"nothing", "", io.EOF},
		{"cut status line", "HTTP/1.1 200", io.ErrUnexpectedEOF},
		{"cut head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", io.EOF},
		{"cut body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", io.ErrUnexpectedEOF},
		{"cut chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", io.ErrUnexpectedEOF},
		{"no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", io.EOF},
		{"not http", "SSH-2.0-OpenSSH_9.6\r\n", &malformed},
		{"http/2 preface", "HTTP/2 200\r\n\r\n", &malformed},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", &malformed},
		{"status glued to reason", "HTTP/1.1 200OK\r\n\r\n", &malformed},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", &malformed},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &malformed},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", &malformed},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", &malformed},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &malformed},
		{"chunk overrun", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", &malformed},
		{"line too long", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", &malformed},
	} {
		var r response
		err := readResponse(bufio.NewReader(strings.NewReader(c.in)), &r)
		if target, ok := c.want.(*protocolError); ok {
			if !errors.As(err, target) {
				t.Errorf("%s: got %v, want a malformed-response error", c.name, err)
			}
		} else if err != c.want {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
