package appconfig

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
