package appconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/clusterd/clusterd/appfile"
	"github.com/clusterd/clusterd/config"
)

// IsConfigFile: path names a file of apps (YAML, JSON, or PM2's JavaScript
// ecosystem file), not a script or program to run. As PM2 decides: by the
// name, so `clusterd start app.js` runs app.js and `clusterd start
// ecosystem.config.js` reads it.
func IsConfigFile(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	switch filepath.Ext(base) {
	case ".yml", ".yaml", ".json":
		return true
	case ".js", ".cjs", ".mjs":
		return strings.HasPrefix(base, "ecosystem") || strings.HasSuffix(strings.TrimSuffix(base, filepath.Ext(base)), ".config")
	}
	return false
}

// Script is the one app of a script or program given on the command line
// (`clusterd start app.js -i 2`): read exactly as a config file's app with
// that script and args, so the interpreter by extension, Node
// compatibility, PYTHONUNBUFFERED, one instance unless -i says more, and
// the name (the script's, unless --name) are PM2's as in a file. The
// workers run in dir (unless --cwd), the directory `start` was run in, as
// PM2 runs them; a relative script is dir's.
func Script(dir, script string, args []string, cli CommandLine, newLogger NewLogger) ([]config.Config, error) {
	if _, err := os.Stat(filepath.Join(dir, script)); err == nil && !filepath.IsAbs(script) {
		script = filepath.Join(dir, script) // a file there, not a program to find in PATH
	}
	if args == nil {
		args = []string{}
	}
	doc, err := json.Marshal(map[string]any{"apps": []map[string]any{{"script": script, "args": args}}})
	if err != nil {
		return nil, err
	}
	// The "file" is the command line: its directory is the current one.
	path := filepath.Join(dir, "(command line)")
	apps, err := appfile.Parse(doc, path, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	configs := make([]config.Config, 0, len(apps))
	for _, app := range apps {
		cfg, _, err := appConfig(path, dir, app, cli, newLogger)
		if err != nil {
			return nil, err
		}
		cfg.Logger = cfg.Logger.With("app", cfg.Name)
		configs = append(configs, cfg)
	}
	return configs, nil
}
