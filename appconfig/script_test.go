package appconfig

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

func discardLogger(slog.Level, bool) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestScript: a script on the command line is read as a file's app with
// that script: PM2's name, one instance, the interpreter by extension,
// node compatibility for node, and the command line's flags over it.
func TestScript(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"app.js", "worker.py", "server"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o755)
	}
	fs := pflag.NewFlagSet("start", pflag.ContinueOnError)
	NewFlags(fs)
	none := ReadCommandLine(fs)
	for _, c := range []struct {
		script     string
		name       string
		command    []string
		nodeCompat bool
	}{
		{"app.js", "app", []string{"node", filepath.Join(dir, "app.js"), "--port", "3"}, true},
		{"worker.py", "worker", []string{"python3", filepath.Join(dir, "worker.py"), "--port", "3"}, false},
		{"server", "server", []string{filepath.Join(dir, "server"), "--port", "3"}, false},
	} {
		configs, err := Script(dir, c.script, []string{"--port", "3"}, none, discardLogger)
		if err != nil {
			t.Fatalf("%s: %v", c.script, err)
		}
		cfg := configs[0]
		if len(configs) != 1 || cfg.Name != c.name || cfg.Instances != 1 || cfg.Dir != dir || cfg.NodeCompat != c.nodeCompat {
			t.Errorf("%s: %d apps, name %q, %d instances, dir %q, node compat %v; want 1 app %q, 1 instance, dir %q, node compat %v",
				c.script, len(configs), cfg.Name, cfg.Instances, cfg.Dir, cfg.NodeCompat, c.name, dir, c.nodeCompat)
		}
		if !slices.Equal(cfg.Command, c.command) {
			t.Errorf("%s: command %q, want %q", c.script, cfg.Command, c.command)
		}
	}
	fs.Parse([]string{"--name", "api", "-i", "3"})
	configs, err := Script(dir, "app.js", nil, ReadCommandLine(fs), discardLogger)
	if err != nil || configs[0].Name != "api" || configs[0].Instances != 3 {
		t.Errorf("app.js --name api -i 3: %v, %+v", err, configs)
	}
}

func TestIsConfigFile(t *testing.T) {
	for path, want := range map[string]bool{
		"ecosystem.config.js": true, "ecosystem.js": true, "pm2.config.cjs": true, "apps.yml": true, "apps.YAML": true,
		"process.json": true, "app.js": false, "server.mjs": false, "app.py": false, "./server": false,
	} {
		if IsConfigFile(path) != want {
			t.Errorf("IsConfigFile(%q) = %v, want %v", path, !want, want)
		}
	}
}
