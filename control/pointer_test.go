package control

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveStatus serves s, answering every status request with name.
func serveStatus(s *Server, name string) {
	go s.Serve(func(conn *net.UnixConn) {
		if _, err := ReadRequest(conn, time.Second); err == nil {
			WriteResponse(conn, Response{OK: true, Status: &Status{Name: name}})
		}
	})
}

// A master's socket outside the per-user directory is linked from it
// under the app's name: clients reach it through the link, which is
// checked as the socket would be (owner, and that it leads to a socket);
// a second master of that name does not take the link; Close removes it,
// a hand-over does not; a link whose socket is gone is stale, and removed.
func TestPointLinksFromThePerUserDirectory(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	own := filepath.Join(t.TempDir(), "own.sock")
	s, err := Listen(own)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serveStatus(s, "app")
	if err := s.Point("app"); err != nil {
		t.Fatal(err)
	}
	link, _ := DefaultPath("app")
	if to, err := os.Readlink(link); err != nil || to != own {
		t.Fatalf("link %s leads to %q (%v), want %s", link, to, err, own)
	}
	if st, err := (&Client{Path: link}).Status(); err != nil || st.Name != "app" {
		t.Fatalf("status through the link: %+v, %v", st, err)
	}
	if live, _ := Masters(filepath.Dir(link)); !slices.Equal(live, []string{link}) {
		t.Errorf("masters %q, want the link", live)
	}

	// Another master of the same name keeps its own path only.
	other, err := Listen(filepath.Join(t.TempDir(), "other.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Point("app"); err == nil || !strings.Contains(err.Error(), "another live master") {
		t.Errorf("a second master of the name took the link: %v", err)
	}
	other.Close()
	if to, _ := os.Readlink(link); to != own {
		t.Errorf("the second master's Close touched the first's link: now %q", to)
	}

	// A link to what is not a socket is refused, not dialled.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	fake := filepath.Join(filepath.Dir(link), "fake.sock")
	os.Symlink(file, fake)
	if _, err := (&Client{Path: fake}).Status(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("status through a link to a file: %v, want it refused as not a socket", err)
	}
	os.Remove(fake)

	// A socket in the per-user directory needs no link.
	inDir, err := Listen(filepath.Join(filepath.Dir(link), "inside.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := inDir.Point("inside2"); err != nil {
		t.Fatal(err)
	}
	if p, _ := DefaultPath("inside2"); isLink(p) {
		t.Errorf("a socket in the per-user directory got a link too: %s", p)
	}
	inDir.Close()

	// Close removes the link; a hand-over leaves it for the new master.
	s.Close()
	if _, err := os.Lstat(link); err == nil {
		t.Errorf("%s is still there after Close", link)
	}
	s2, err := Listen(own)
	if err != nil {
		t.Fatal(err)
	}
	s2.Point("app")
	s2.HandOver()
	s2.Close()
	if to, err := os.Readlink(link); err != nil || to != own {
		t.Errorf("after a hand-over the link leads to %q (%v), want it kept", to, err)
	}
	// Its socket gone (the hand-over left it; nothing serves it now):
	// stale, and removed.
	os.Remove(own)
	live, stale := Masters(filepath.Dir(link))
	if len(live) != 0 || !slices.Equal(stale, []string{link}) {
		t.Errorf("masters: live %q, stale %q; want the link stale", live, stale)
	}
	if _, err := os.Lstat(link); err == nil {
		t.Errorf("the stale link %s was not removed", link)
	}
}
