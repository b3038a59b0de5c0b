package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigPM2Corpus reads appfile's corpus of real ecosystem files the
// way start does, into each app's master configuration. Three of them
// carry a field that neither PM2's schema nor clusterd has (PM2 drops such
// a field without a word): clusterd still refuses those as unknown, a typo
// being likelier than a field nobody reads. Their list is here so that
// changing that decision changes this test.
func TestConfigPM2Corpus(t *testing.T) {
	refused := map[string]string{
		"7odri9o__pm2-two-process__pm2.json":            "instance: unknown field: did you mean instances?",
		"buildknuckle__Cure-Peace__ecosystem.config.js": "detached: unknown field",
		"pipethedev__cron-test__ecosystem.config.js":    "ignore: unknown field",
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "appfile", "testdata", "pm2corpus", "*"))
	if len(files) < 30 {
		t.Fatalf("%d corpus files", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		if name == "SOURCES.md" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if strings.HasSuffix(name, ".js") {
				node, err := exec.LookPath("node")
				if err != nil {
					t.Skip("node is not installed: a JavaScript ecosystem file is evaluated with it")
				}
				out, err := exec.Command(node, "-e", evaluateEcosystem, path).Output()
				if err != nil {
					t.Fatalf("node: %v", err)
				}
				path = filepath.Join(t.TempDir(), name+".json")
				os.WriteFile(path, out, 0o644)
			}
			configs, err := readConfigs(path, "", nil)
			if want, ok := refused[name]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, cfg := range configs {
				if cfg.Name == "" || len(cfg.Command) == 0 || cfg.Instances < 1 {
					t.Errorf("app %q: command %q, %d instances", cfg.Name, cfg.Command, cfg.Instances)
				}
			}
		})
	}
}
