package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/appconfig"
)

// TestConfigPM2Corpus reads appfile's corpus of real ecosystem files the
// way start does, into each app's master configuration: every one reads,
// JavaScript ones evaluated with node. Fields that neither PM2's schema nor
// clusterd knows (three files have one) are left out with a warning, as PM2
// leaves them out.
func TestConfigPM2Corpus(t *testing.T) {
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
				if _, err := exec.LookPath("node"); err != nil {
					t.Skip("node is not installed: a JavaScript ecosystem file is evaluated with it")
				}
			}
			configs, err := appconfig.Read(path, "", nil, newLogger)
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
