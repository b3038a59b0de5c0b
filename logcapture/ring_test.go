package logcapture

import (
	"strconv"
	"strings"
	"testing"
)

func ringLine(i int) LogLine {
	return LogLine{App: "web", Stream: "out", Line: "line " + strconv.Itoa(i)}
}

func lineTexts(lines []LogLine) string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Line)
	}
	return strings.Join(s, ",")
}

func TestRingKeepsTheLastLines(t *testing.T) {
	r := newRing(3, 1<<20)
	if got := r.Last(5); len(got) != 0 {
		t.Fatalf("empty ring returned %v", got)
	}
	for i := range 5 {
		r.add(ringLine(i))
	}
	if got := lineTexts(r.Last(10)); got != "line 2,line 3,line 4" {
		t.Errorf("last(10) = %q", got)
	}
	if got := lineTexts(r.Last(2)); got != "line 3,line 4" {
		t.Errorf("last(2) = %q", got)
	}
	if got := r.Last(-1); len(got) != 0 {
		t.Errorf("last(-1) = %v", got)
	}
}

// A burst of long lines must not make the ring hold its line count of them.
func TestRingBoundsItsMemory(t *testing.T) {
	long := strings.Repeat("x", 1000)
	r := newRing(100, 3*(1001+3+96)) // room for exactly 3 of these lines
	for i := range 10 {
		r.add(LogLine{App: "web", Line: long + strconv.Itoa(i)})
	}
	got := r.Last(100)
	if len(got) != 3 || got[2].Line != long+"9" {
		t.Fatalf("kept %d lines (last %q); want the 3 newest", len(got), got[len(got)-1].Line[1000:])
	}
	if r.bytes > r.maxBytes {
		t.Errorf("ring holds %d bytes, over its %d", r.bytes, r.maxBytes)
	}
}

// A follower gets the newest lines, then every new one with no gap or
// repeat; one that falls behind loses lines, never blocks add, and is told
// how many it lost, just before the next line it gets.
func TestFollowerLosesLinesWhenSlowAndIsTold(t *testing.T) {
	r := newRing(10, 1<<20)
	for i := range 3 {
		r.add(ringLine(i))
	}
	recent, f := r.Follow(2, 2)
	if got := lineTexts(recent); got != "line 1,line 2" {
		t.Fatalf("follow started with %q", got)
	}
	for i := 3; i < 8; i++ {
		r.add(ringLine(i)) // never blocks: 3 of these do not fit
	}
	for _, want := range []string{"line 3", "line 4"} {
		if msg := <-f.ch; msg.Line.Line != want || msg.Dropped != 0 {
			t.Fatalf("got %+v %q, want %q", msg, msg.Line.Line, want)
		}
	}
	r.add(ringLine(8))
	if msg := <-f.ch; msg.Line.Line != "line 8" || msg.Dropped != 3 {
		t.Fatalf("after falling behind: got %q dropped %d; want line 8 after 3 dropped", msg.Line.Line, msg.Dropped)
	}
	r.Unfollow(f)
	r.add(ringLine(9))
	if len(f.ch) != 0 {
		t.Errorf("an unfollowed follower still gets lines")
	}
}

// A follower that does not read holds a bounded number of bytes, however
// long the lines: the rest are dropped and counted.
func TestFollowerBytesAreCapped(t *testing.T) {
	r := newRing(1000, 64<<20)
	_, f := r.Follow(0, 1024)
	defer r.Unfollow(f)
	long := strings.Repeat("x", 1<<20)
	for range 100 { // 100 MiB offered
		r.add(LogLine{App: "a", Line: long})
	}
	if held := f.pending.Load(); held > followerMaxBytes {
		t.Fatalf("the follower holds %d bytes, more than %d", held, followerMaxBytes)
	}
	first := <-f.Messages()
	f.Consumed(first)
	if n := len(f.Messages()); n > 4 {
		t.Fatalf("%d megabyte lines wait for a follower that does not read", n+1)
	}
	r.add(LogLine{App: "a", Line: "next"})
	for msg := range f.Messages() {
		f.Consumed(msg)
		if msg.Line.Line == "next" {
			if msg.Dropped == 0 {
				t.Error("the dropped lines were not counted")
			}
			return
		}
	}
}
