package load

import (
	"bufio"
	"bytes"
	"io"
	"math"
)

// response is what a worker keeps of one response.
type response struct {
	status int
	// close is set when the server ends the connection after this response: it said
	// "Connection: close", or spoke HTTP/1.0 without keep-alive, or delimited the body by
	// closing. The next request needs a new connection; that is not a failure.
	close bool
	// worker is the X-Worker-Pid value, copied out of the read buffer; empty if absent.
	worker []byte
}

// head is the part of a response header that decides how to read the rest.
type head struct {
	status        int
	http10        bool
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // Connection: close
	keepAlive     bool // Connection: keep-alive
}

// protocolError is a response this parser does not accept as HTTP/1.x.
type protocolError string

func (e protocolError) Error() string { return "malformed response: " + string(e) }

// readResponse reads one whole response (head and body) from br into r. Interim 1xx
// responses are read and skipped. It returns the reader's error (io.EOF,
// io.ErrUnexpectedEOF, a reset, a timeout) or a protocolError; r is valid only when the
// error is nil. Lines longer than br's buffer are a protocolError.
func readResponse(br *bufio.Reader, r *response) error {
	var h head
	for {
		if err := readHead(br, &h, r); err != nil {
			return err
		}
		if h.status >= 200 || h.status == 101 {
			break
		}
	}
	r.status = h.status
	r.close = h.close || (h.http10 && !h.keepAlive)
	switch {
	case h.status == 101:
		r.close = true // the connection now speaks another protocol
		return nil
	case h.status == 204 || h.status == 304:
		return nil
	case h.chunked:
		return readChunked(br)
	case h.contentLength >= 0:
		return discard(br, h.contentLength)
	default:
		// No length given: the body runs until the server closes the connection.
		r.close = true
		if _, err := br.Discard(math.MaxInt); err != io.EOF {
			return err
		}
		return nil
	}
}

func readHead(br *bufio.Reader, h *head, r *response) error {
	*h = head{contentLength: -1}
	r.worker = r.worker[:0]

	// "HTTP/1.1 200 OK"; the reason phrase may be missing.
	line, err := readLine(br)
	if err != nil {
		return err
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return protocolError("status line")
	}
	h.http10 = line[7] == '0'
	status, ok := parseUint(line[9:12], 10)
	if !ok || status < 100 {
		return protocolError("status code")
	}
	h.status = int(status)

	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return protocolError("header line without a name")
		}
		name, value := line[:colon], trimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseUint(value, 10)
			if !ok || (h.contentLength >= 0 && h.contentLength != n) {
				return protocolError("content-length")
			}
			h.contentLength = n
		case equalFold(name, "transfer-encoding"):
			h.chunked = h.chunked || hasToken(value, "chunked")
		case equalFold(name, "connection"):
			h.close = h.close || hasToken(value, "close")
			h.keepAlive = h.keepAlive || hasToken(value, "keep-alive")
		case equalFold(name, "x-worker-pid"):
			r.worker = append(r.worker[:0], value...)
		}
	}
}

// readChunked reads a chunked body and its trailer section, discarding both.
func readChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if semi := bytes.IndexByte(line, ';'); semi >= 0 {
			line = line[:semi] // chunk extensions
		}
		size, ok := parseUint(trimSpace(line), 16)
		if !ok {
			return protocolError("chunk size")
		}
		if size == 0 {
			break
		}
		if err := discard(br, size); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil {
			return err
		} else if len(line) != 0 {
			return protocolError("chunk longer than its size")
		}
	}
	for {
		line, err := readLine(br)
		if err != nil || len(line) == 0 {
			return err
		}
	}
}

// readLine returns the next line without its CRLF (or bare LF). The slice points into br's
// buffer and is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, protocolError("line longer than the read buffer")
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func discard(br *bufio.Reader, n int64) error {
	_, err := br.Discard(int(n))
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseUint parses a non-empty run of digits in base 10 or 16.
func parseUint(b []byte, base int64) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d int64
		switch {
		case '0' <= c && c <= '9':
			d = int64(c - '0')
		case base == 16 && 'a' <= c|0x20 && c|0x20 <= 'f':
			d = int64(c|0x20-'a') + 10
		default:
			return 0, false
		}
		if n > (math.MaxInt64-d)/base {
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

// hasToken reports whether the comma-separated list holds token (lower case), ignoring case.
func hasToken(list []byte, token string) bool {
	for len(list) > 0 {
		item := list
		if comma := bytes.IndexByte(list, ','); comma >= 0 {
			item, list = list[:comma], list[comma+1:]
		} else {
			list = nil
		}
		if equalFold(trimSpace(item), token) {
			return true
		}
	}
	return false
}

// equalFold compares ASCII b with lower-case s, ignoring the case of b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// trimSpace trims HTTP's optional whitespace (spaces and tabs).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
