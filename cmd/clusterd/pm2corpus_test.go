package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/process"
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
			configs, err := appconfig.Read(path, "", nil, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			for _, cfg := range configs {
				if cfg.Name == "" || len(cfg.Command) == 0 || cfg.Instances < 1 {
					t.Errorf("app %q: command %q, %d instances", cfg.Name, cfg.Command, cfg.Instances)
				}
			}
			startCorpusApps(t, configs)
		})
	}
}

// startCorpusApps runs a corpus file's apps under one process, as start
// does, until every slot of every app is ready, then stops them. What the
// file cannot bring here is swapped for the test's own: the program (the
// demo, which says READY), addresses (127.0.0.1:0), and paths outside the
// test's directory (log and pid files, working directory, user, watch,
// metrics). Everything else runs as the file says: instances (at most 2
// here), environment, timeouts, restart policy, signals, cron, Node mode.
func startCorpusApps(t *testing.T, configs []config.Config) {
	t.Helper()
	dir, derr := os.MkdirTemp("", "pm2c") // short: a unix socket's path is at most 107 bytes
	if derr != nil {
		t.Fatal(derr)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The masters link their sockets from the per-user directory: this
	// test's own, not the user's.
	t.Setenv("XDG_RUNTIME_DIR", dir)
	for i := range configs {
		cfg := &configs[i]
		cfg.Command, cfg.Dir, cfg.User, cfg.Group = demoCommand(t), "", "", ""
		cfg.Listen, cfg.NoListen, cfg.Metrics, cfg.Watch = []string{"127.0.0.1:0"}, false, "", nil
		cfg.ControlPath = filepath.Join(dir, fmt.Sprintf("app%d.sock", i))
		cfg.Instances, cfg.WaitReady = min(cfg.Instances, 2), true
		cfg.MinUptime, cfg.ListenTimeout = min(cfg.MinUptime, time.Second), 20*time.Second
		for _, file := range []*string{&cfg.LogFile, &cfg.OutFile, &cfg.ErrorFile, &cfg.Pidfile} {
			if *file != "" && *file != os.DevNull {
				*file = filepath.Join(dir, "logs", cfg.Name, filepath.Base(*file))
			}
		}
		// The workers are this test binary run as clusterd (TestMain),
		// tagged as this test's.
		cfg.Env = append(cfg.Env, "CLUSTERD_TEST_ROLE=main", testRunVar+"="+runID(t))
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := process.New(process.Options{Apps: func() ([]config.Config, error) { return configs, nil }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- p.Run(ctx) }()
	defer func() {
		stop()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("the apps' process ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the apps did not stop within 30s")
		}
	}()
	for _, cfg := range configs {
		client := &control.Client{Path: cfg.ControlPath, Timeout: 5 * time.Second}
		waitFor(t, 30*time.Second, "app "+cfg.Name+" to be ready", func() error {
			select {
			case err := <-ended:
				ended <- err
				t.Fatalf("the apps' process ended before app %s was ready: %v", cfg.Name, err)
			default:
			}
			st, err := client.Status()
			if err != nil {
				return err
			}
			ready := 0
			for _, w := range st.Workers {
				if w.State == "ready" {
					ready++
				}
			}
			if ready < st.Instances {
				return fmt.Errorf("%d of %d ready", ready, st.Instances)
			}
			return nil
		})
	}
}
