package main

import (
	"fmt"
	"os"
	"os/exec"
)

// stamps are what internal/version reports; see the Makefile's STAMP.
type stamps struct{ version, commit, date string }

func (s stamps) ldflags() string {
	const pkg = "github.com/clusterd/clusterd/internal/version"
	// -s -w: no symbol table or DWARF, a third smaller; panics still print
	// their stack traces (those come from pclntab, which stays).
	return fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s -X %s.Date=%s",
		pkg, s.version, pkg, s.commit, pkg, s.date)
}

// buildBinary builds a static, reproducible clusterd for linux/arch:
// CGO_ENABLED=0 (no libc: it runs in FROM scratch and on any distribution),
// -trimpath (no paths of this machine in the binary).
func buildBinary(src, arch string, s stamps, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", s.ldflags(), "-o", out, "./cmd/clusterd")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build clusterd for linux/%s: %w", arch, err)
	}
	return nil
}
