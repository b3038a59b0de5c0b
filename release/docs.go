package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// docFile is one generated file and where a package installs it.
type docFile struct{ path, dest string }

// completionDest is where each shell looks for a completion installed by a
// package.
var completionDest = map[string]string{
	"bash": "/usr/share/bash-completion/completions/clusterd",
	"zsh":  "/usr/share/zsh/vendor-completions/_clusterd",
	"fish": "/usr/share/fish/vendor_completions.d/clusterd.fish",
}

// generateDocs runs clusterd (built for this machine) to write its shell
// completions, and internal/genman of the repository at src to write its
// gzipped man pages, into dir.
func generateDocs(src, version, clusterd, dir string) ([]docFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var docs []docFile
	for shell, dest := range completionDest {
		out, err := exec.Command(clusterd, "completion", shell).Output()
		if err != nil {
			return nil, fmt.Errorf("clusterd completion %s: %w", shell, err)
		}
		path := filepath.Join(dir, "completion."+shell)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return nil, err
		}
		docs = append(docs, docFile{path, dest})
	}
	man := filepath.Join(dir, "man")
	genman := exec.Command("go", "run", "./internal/genman", "-version", version, man)
	genman.Dir = src
	if out, err := genman.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("genman: %w\n%s", err, out)
	}
	pages, err := filepath.Glob(filepath.Join(man, "*.1"))
	if err != nil || len(pages) == 0 {
		return nil, fmt.Errorf("genman wrote no pages in %s", man)
	}
	for _, page := range pages {
		gz, err := gzipFile(page)
		if err != nil {
			return nil, err
		}
		docs = append(docs, docFile{gz, "/usr/share/man/man1/" + filepath.Base(gz)})
	}
	return docs, nil
}

// gzipFile writes path.gz (Debian policy: man pages are compressed) with
// no name or time in its header, so the same page gives the same bytes.
func gzipFile(path string) (string, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(content)
	if err := w.Close(); err != nil {
		return "", err
	}
	return path + ".gz", os.WriteFile(path+".gz", b.Bytes(), 0o644)
}
