package load

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// handler answers the nth request a testServer has read (n counts from 1 over all
// connections); head is the request head, valid during the call. Returning false ends the
// connection: the server closes it unless the handler already did.
type handler func(conn net.Conn, n int64, head []byte) (keep bool)

// testServer is an in-process HTTP/1.1 server that answers fixed responses written by hand,
// so a test controls every byte and every close. It allocates nothing per request, so
// benchmarks against it measure the client.
type testServer struct {
	ln       net.Listener
	handle   handler
	accepted atomic.Int64  // connections
	requests atomic.Int64  // request heads read
	done     chan struct{} // closed at cleanup; handlers that hang wait on it

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// serve starts a testServer on 127.0.0.1:0 and stops it when the test ends.
func serve(t testing.TB, handle handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, handle)
}

func serveOn(t testing.TB, ln net.Listener, handle handler) *testServer {
	s := &testServer{ln: ln, handle: handle, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string {
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return s.ln.Addr().String()
}

func (s *testServer) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serveConn(conn) })
	}
}

func (s *testServer) serveConn(conn net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	br := bufio.NewReader(conn)
	var head []byte
	for {
		head = head[:0]
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			head = append(head, line...)
			if len(line) <= 2 { // the empty line that ends a request head
				break
			}
		}
		if !s.handle(conn, s.requests.Add(1), head) {
			return
		}
	}
}

func (s *testServer) close() {
	s.ln.Close()
	close(s.done)
	s.mu.Lock()
	for conn := range s.conns {
		conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// reply answers every request with response and keeps the connection.
func reply(response string) handler {
	b := []byte(response)
	return func(conn net.Conn, _ int64, _ []byte) bool {
		_, err := conn.Write(b)
		return err == nil
	}
}

// replyAndClose answers every request with response, then closes the connection.
func replyAndClose(response string) handler {
	b := []byte(response)
	return func(conn net.Conn, _ int64, _ []byte) bool {
		conn.Write(b)
		return false
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
