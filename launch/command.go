package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Command is one resolved release of the worker program: the binary and
// working directory are pinned when it is resolved (at start and at every
// reload), so a deploy that swaps a symlink is picked up by the next reload
// and not, half-way, by a crash re-fork.
type Command struct {
	Path string   // absolute, symlinks resolved
	Argv []string // argv[0] as the user wrote it
	Dir  string   // absolute working directory, symlinks resolved
	Env  []string // the workers' whole environment
	// Generation counts resolutions: 1 at start, +1 per reload.
	Generation int
}

// Resolve finds argv[0] the way a shell would and checks that it can
// be executed, so a bad release fails the reload with a clear reason instead
// of a worker that exits at once.
func Resolve(argv []string, dir string, generation int) (*Command, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no command given: usage is clusterd [flags] -- COMMAND [ARGS...]")
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		dir = wd
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("working directory %s: %w", dir, err)
	}
	name := argv[0]
	var path string
	if strings.Contains(name, "/") {
		path = name
		if !filepath.IsAbs(path) {
			path = filepath.Join(realDir, path)
		}
	} else {
		p, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("command %q not found in PATH", name)
		}
		path = p
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("command %q: no such file", name)
		}
		return nil, fmt.Errorf("command %q: %w", name, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, fmt.Errorf("command %q: %w", name, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("command %q: %w", name, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("command %q is a directory", name)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("command %q is not executable (mode %s)", name, fi.Mode().Perm())
	}
	return &Command{Path: real, Argv: append([]string(nil), argv...), Dir: realDir, Generation: generation}, nil
}
