package appconfig

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestSizeValue(t *testing.T) {
	for in, want := range map[string]int64{"10M": 10 << 20, "512k": 512 << 10, "1G": 1 << 30, "2MB": 2 << 20, "3MiB": 3 << 20, "100": 100} {
		var n int64
		if err := (sizeValue{&n}).Set(in); err != nil || n != want {
			t.Errorf("%q: %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "ten", "1T", "99999999999G"} {
		var n int64
		if err := (sizeValue{&n}).Set(in); err == nil {
			t.Errorf("%q: accepted as %d", in, n)
		}
	}
	n := int64(10 << 20)
	if s := (sizeValue{&n}).String(); s != "10M" {
		t.Errorf("String() = %q", s)
	}
}

// A field PM2 does not know either is left out as PM2 leaves it out, but a
// likely typo is named with the field it resembles, once per read.
func TestUnknownFieldIsAWarningNamingTheNearest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.yml")
	os.WriteFile(path, []byte("apps:\n  - name: web\n    script: /bin/true\n    instancs: 2\n"), 0o644)
	configs, warnings, err := read(path, "", nil, func(slog.Level, bool) *slog.Logger { return slog.Default() })
	if err != nil {
		t.Fatal(err)
	}
	want := `apps.yml:4: app "web": instancs: unknown field, ignored as PM2 ignores it: did you mean instances?`
	if len(warnings) != 1 || !strings.HasSuffix(warnings[0], want) {
		t.Errorf("warnings %q, want one ending %q", warnings, want)
	}
	if len(configs) != 1 || configs[0].Instances != 1 {
		t.Errorf("configs %+v: want web with PM2's one instance", configs)
	}
}

// An app of a file with no listen gets no socket unless it is Node, whose
// listen(PORT) the default address serves.
func TestAppWithoutListenGetsNoSocketUnlessNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.yml")
	os.WriteFile(path, []byte("apps:\n  - name: job\n    script: /bin/true\n  - name: web\n    script: server.js\n  - name: api\n    script: /bin/true\n    listen: 127.0.0.1:0\n"), 0o644)
	configs, err := Read(path, "", nil, func(slog.Level, bool) *slog.Logger { return slog.Default() })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configs {
		want := c.Name == "job"
		if c.NoListen != want {
			t.Errorf("app %s: no_listen %v, want %v", c.Name, c.NoListen, want)
		}
	}
}

// PM2's watch_options reach the master's configuration as the --watch-*
// flags would set them, clusterd's own field names work too, and the
// command line still wins over the file.
func TestWatchOptionsReachTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.yml")
	os.WriteFile(path, []byte(`apps:
  - name: pm2
    script: /bin/true
    watch: true
    watch_options: {usePolling: true, interval: 250, followSymlinks: false, depth: 0, awaitWriteFinish: true}
  - name: own
    script: /bin/true
    watch: true
    watch_poll: true
    watch_depth: 3
  - name: plain
    script: /bin/true
    watch: true
`), 0o644)
	newLogger := func(slog.Level, bool) *slog.Logger { return slog.Default() }
	configs, warnings, err := read(path, "", nil, newLogger)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q, want none: every option given maps", warnings)
	}
	pm2, own, plain := configs[0], configs[1], configs[2]
	if !pm2.WatchPoll || pm2.WatchPollInterval != 250*time.Millisecond || !pm2.WatchNoFollowSymlinks ||
		pm2.WatchDepth == nil || *pm2.WatchDepth != 0 || pm2.WatchAwaitWrite != 2*time.Second {
		t.Errorf("pm2: poll %v every %s, no-follow %v, depth %v, await %s; want true, 250ms, true, 0, 2s",
			pm2.WatchPoll, pm2.WatchPollInterval, pm2.WatchNoFollowSymlinks, pm2.WatchDepth, pm2.WatchAwaitWrite)
	}
	if !own.WatchPoll || own.WatchDepth == nil || *own.WatchDepth != 3 {
		t.Errorf("own: poll %v, depth %v; want true, 3", own.WatchPoll, own.WatchDepth)
	}
	if plain.WatchPoll || plain.WatchNoFollowSymlinks || plain.WatchDepth != nil || plain.WatchAwaitWrite != 0 || plain.WatchPollInterval != 0 {
		t.Errorf("plain: %+v; want inotify, links followed, every level, no await", plain)
	}
	fs := pflag.NewFlagSet("clusterd", pflag.ContinueOnError)
	NewFlags(fs)
	if err := fs.Parse([]string{"--watch-depth", "5", "--watch-await-write", "100ms"}); err != nil {
		t.Fatal(err)
	}
	configs, _, err = read(path, "", ReadCommandLine(fs), newLogger)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configs {
		if c.WatchDepth == nil || *c.WatchDepth != 5 || c.WatchAwaitWrite != 100*time.Millisecond {
			t.Errorf("app %s: depth %v, await %s; want 5 and 100ms from the command line", c.Name, c.WatchDepth, c.WatchAwaitWrite)
		}
	}
	if err := fs.Parse([]string{"--watch-depth", "-1"}); err == nil {
		t.Error("--watch-depth -1 accepted")
	}
}
