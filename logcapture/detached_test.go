package logcapture

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
)

// A stderr that nobody reads must not block the master's log calls: the
// writes return at once, and what did not fit is counted once the reader
// is back.
func TestDetachedNeverWaits(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	d := NewDetached(w, 64<<10)
	line := strings.Repeat("x", 1023) + "\n"
	done := make(chan struct{})
	go func() {
		for range 10000 { // 10 MiB: far more than the pipe and the queue hold
			d.Write([]byte(line))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for a reader that does not read")
	}
	// The reader comes back: the queued lines, then the count of the rest.
	buf := make([]byte, 1<<20)
	var got strings.Builder
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(got.String(), "were dropped") {
		if time.Now().After(deadline) {
			t.Fatalf("no line counted the dropped ones; read %d bytes", got.Len())
		}
		r.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := r.Read(buf)
		got.Write(buf[:n])
	}
}

// While the destination takes lines, a line is written when Write returns:
// whoever reads the log right after an event finds its line.
func TestDetachedWritesBeforeReturning(t *testing.T) {
	var out proctest.Buffer
	d := NewDetached(&out, 1<<20)
	for i := range 100 {
		line := fmt.Sprintf("line %d\n", i)
		d.Write([]byte(line))
		if !strings.HasSuffix(out.String(), line) {
			t.Fatalf("after Write(%q) the output ends %q", line, out.String()[max(0, len(out.String())-20):])
		}
	}
}
