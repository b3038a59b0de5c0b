package main

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the "rpm" packager
)

// unit is the systemd template the packages install; see its comments.
//
//go:embed clusterd@.service
var unit []byte

// buildPackage writes the .deb or .rpm (format) for arch into dir and
// returns its path.
func buildPackage(format, arch, version, binary string, docs []docFile, dir string) (string, error) {
	unitFile := filepath.Join(dir, ".clusterd@.service")
	if err := os.WriteFile(unitFile, unit, 0o644); err != nil {
		return "", err
	}
	defer os.Remove(unitFile)
	contents := files.Contents{
		{Source: binary, Destination: "/usr/bin/clusterd", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: unitFile, Destination: "/usr/lib/systemd/system/clusterd@.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Destination: "/etc/clusterd", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
	}
	for _, d := range docs {
		contents = append(contents, &files.Content{Source: d.path, Destination: d.dest, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	info := &nfpm.Info{
		Name:        "clusterd",
		Arch:        arch,
		Platform:    "linux",
		Maintainer:  "clusterd maintainers <clusterd@users.noreply.github.com>",
		Description: "Pre-fork cluster master with zero-downtime rolling reload",
		Homepage:    "https://github.com/clusterd/clusterd",
		Section:     "admin",
		Priority:    "optional",
		// The same sources give the same package bytes.
		MTime:        sourceDate(),
		Overridables: nfpm.Overridables{Contents: contents},
	}
	info.Version, info.Prerelease, info.VersionMetadata = packageVersion(version)
	info.VersionSchema = "none"
	info = nfpm.WithDefaults(info)
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s for %s: %w", format, arch, err)
	}
	path := filepath.Join(dir, packager.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("%s for %s: %w", format, arch, err)
	}
	return path, f.Close()
}

var describe = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+))??(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)

// packageVersion turns what `git describe --tags --always --dirty` says into
// a package version that dpkg and rpm order correctly:
//
//	v1.2.0                   1.2.0
//	v1.2.0-rc1               1.2.0~rc1            (before 1.2.0)
//	v1.2.0-3-g1a2b3c4-dirty  1.2.0+git3.1a2b3c4.dirty (after 1.2.0)
//	1a2b3c4 (no tag yet)     0.0.0+git.1a2b3c4
func packageVersion(describeOutput string) (version, prerelease, metadata string) {
	m := describe.FindStringSubmatch(describeOutput)
	if m == nil {
		return "0.0.0", "", "git." + strings.ReplaceAll(strings.TrimPrefix(describeOutput, "g"), "-", ".")
	}
	version, prerelease = m[1], m[2]
	var meta []string
	if m[3] != "" {
		meta = append(meta, "git"+m[3], m[4])
	}
	if m[5] != "" {
		meta = append(meta, "dirty")
	}
	return version, prerelease, strings.Join(meta, ".")
}

// sourceDate is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func sourceDate() time.Time {
	var epoch int64
	if _, err := fmt.Sscan(os.Getenv("SOURCE_DATE_EPOCH"), &epoch); err == nil {
		return time.Unix(epoch, 0).UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}
