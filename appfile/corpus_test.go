package appfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// evaluateEcosystem prints what a JavaScript ecosystem file exports as
// JSON, as PM2 reads it (a list, or one app, is the apps).
const evaluateEcosystem = `
const path = require('path');
let c = require(path.resolve(process.argv[1]));
if (c && c.default) c = c.default;
if (Array.isArray(c)) c = {apps: c};
else if (c && !c.apps) c = {apps: [c]};
process.stdout.write(JSON.stringify(c, (k, v) => typeof v === 'function' ? undefined : v));
`

// TestPM2Corpus: every file of a corpus of real ecosystem files from public
// projects (testdata/pm2corpus/SOURCES.md names each one's origin) loads
// without an error, and each warning is one line naming its field. The
// scripts they name are not there: loading must not need them.
func TestPM2Corpus(t *testing.T) {
	sources, err := os.ReadFile("testdata/pm2corpus/SOURCES.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/pm2corpus/*")
	loaded := 0
	for _, path := range files {
		name := filepath.Base(path)
		if name == "SOURCES.md" {
			continue
		}
		loaded++
		if !strings.Contains(string(sources), "| "+name+" |") {
			t.Errorf("%s: not in SOURCES.md", name)
		}
		t.Run(name, func(t *testing.T) {
			apps, err := loadCorpusFile(t, path)
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, apps)
			for _, app := range apps {
				for _, w := range app.Warnings {
					t.Log(w)
				}
				if app.Name == "" || len(app.Command) == 0 {
					t.Errorf("app %q: command %q", app.Name, app.Command)
				}
			}
		})
	}
	if loaded < 30 {
		t.Errorf("the corpus has %d files, want at least 30", loaded)
	}
}

// loadCorpusFile reads a corpus file as PM2 would: a JavaScript one is
// evaluated with node first.
func loadCorpusFile(t *testing.T, path string) ([]App, error) {
	if !strings.HasSuffix(path, ".js") {
		return Load(path, "")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: a JavaScript ecosystem file is evaluated with it")
	}
	out, err := exec.Command(node, "-e", evaluateEcosystem, path).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return Parse(out, path+".json", "")
}

func TestJSONAsPM2Reads(t *testing.T) {
	apps, err := Parse([]byte("{\n  // the API\n  \"apps\": [{\"name\": \"a\",\n    // \"cwd\": \"/srv\",\n    /* here */ \"script\": \"a.js\", \"args\": [\"--x=//y\"],},],\n}\n"), "pm2.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps[0].Settings) != 1 { // node-compat, for a script run by node
		t.Errorf("settings %+v: a commented-out field is read (YAML takes // \"cwd\" for a key)", apps[0].Settings)
	}
	if got := strings.Join(apps[0].Command, " "); got != "node a.js --x=//y" {
		t.Errorf("command %q: a // inside a string is not a comment", got)
	}
	// YAML under a .json name (import-pm2 checks its output so) is YAML.
	apps, err = Parse([]byte("apps:\n  - name: a\n    script: a.js\n    env: {URL: https://example.com}\n"), "ecosystem.json", "")
	if err != nil || !slices.Equal(apps[0].Env, []string{"URL=https://example.com"}) {
		t.Errorf("YAML named .json: %v, env %q", err, apps[0].Env)
	}
	_, err = Parse([]byte("{\n  // comment\n  \"apps\": [{\"name\": \"a\" \"script\": \"a.js\"}]\n}\n"), "pm2.json", "")
	// The error is the JSON's (the YAML library names the line where the
	// mapping starts), not one about the comment.
	if e := (*Error)(nil); !errors.As(err, &e) || e.Line == 0 || !strings.Contains(err.Error(), "expected ','") {
		t.Errorf("error %v, want one about the missing comma, with a line", err)
	}
}
