package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	var o options
	flag.StringVar(&o.version, "version", "", "what clusterd --version says, e.g. v1.2.0 or git describe's output (required)")
	flag.StringVar(&o.commit, "commit", "", "commit hash to stamp")
	flag.StringVar(&o.date, "date", "", "build time to stamp, RFC 3339")
	flag.StringVar(&o.out, "out", "../dist", "directory for the artifacts (emptied first)")
	flag.StringVar(&o.src, "src", "..", "the clusterd repository")
	arches := flag.String("arch", "amd64,arm64", "linux architectures, comma-separated")
	flag.Parse()
	o.arches = strings.Split(*arches, ",")
	// go build runs in src: every path it is given must not be relative.
	for _, p := range []*string{&o.out, &o.src} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "release:", err)
			os.Exit(1)
		}
		*p = abs
	}
	if o.version == "" {
		fmt.Fprintln(os.Stderr, "release: -version is required")
		os.Exit(2)
	}
	if err := release(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

type options struct {
	version, commit, date string
	out, src              string
	arches                []string
}

// release builds every artifact into o.out and writes SHA256SUMS last.
func release(o options) error {
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	stamps := stamps{o.version, o.commit, o.date}
	binaries := map[string]string{} // arch → path
	for _, arch := range o.arches {
		path := filepath.Join(o.out, fmt.Sprintf("clusterd_%s_linux_%s", o.version, arch))
		if err := buildBinary(o.src, arch, stamps, path); err != nil {
			return err
		}
		binaries[arch] = path
	}
	// The binary that can run here writes the man pages and completions.
	host, ok := binaries[runtime.GOARCH]
	if !ok {
		host = filepath.Join(o.out, "clusterd-host")
		if err := buildBinary(o.src, runtime.GOARCH, stamps, host); err != nil {
			return err
		}
		defer os.Remove(host)
	}
	assets, err := os.MkdirTemp("", "clusterd-assets-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(assets)
	docs, err := generateDocs(o.src, o.version, host, assets)
	if err != nil {
		return err
	}
	for _, arch := range o.arches {
		for _, format := range []string{"deb", "rpm"} {
			if _, err := buildPackage(format, arch, o.version, binaries[arch], docs, o.out); err != nil {
				return err
			}
		}
	}
	return writeChecksums(o.out)
}
