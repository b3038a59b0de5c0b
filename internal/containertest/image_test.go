package containertest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// image is the Containerfile's image in a buildah storage of the test's
// own (vfs: no overlay mounts needed), removed when the test ends.
type image struct {
	storage []string // buildah's global flags that select that storage
	id      string
	config  struct{ Entrypoint, Cmd []string }
}

func (img *image) buildah(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("buildah", append(append([]string{}, img.storage...), args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// buildImage builds the Containerfile from a context holding only what it
// copies: bin/clusterd and container/.
func buildImage(t *testing.T, repo, clusterd, work string) *image {
	t.Helper()
	storage := filepath.Join(work, "storage")
	img := &image{storage: []string{"--root", storage, "--runroot", filepath.Join(work, "runroot"), "--storage-driver", "vfs"}}
	t.Cleanup(func() {
		exec.Command("buildah", append(append([]string{}, img.storage...), "rm", "--all")...).Run()
		os.RemoveAll(storage)
	})
	context := filepath.Join(work, "context")
	if err := os.MkdirAll(filepath.Join(context, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, clusterd, filepath.Join(context, "bin/clusterd"), 0o755)
	if out, err := exec.Command("cp", "-a", filepath.Join(repo, "container"), context).CombinedOutput(); err != nil {
		t.Fatalf("cp container/: %v\n%s", err, out)
	}
	iidfile := filepath.Join(work, "iid")
	img.buildah(t, "build", "--quiet", "--iidfile", iidfile, "-f", filepath.Join(repo, "Containerfile"), context)
	id, err := os.ReadFile(iidfile)
	if err != nil {
		t.Fatal(err)
	}
	img.id = strings.TrimSpace(string(id))
	var inspect struct {
		OCIv1 struct {
			Config struct{ Entrypoint, Cmd []string }
		}
	}
	if err := json.Unmarshal([]byte(img.buildah(t, "inspect", "--type", "image", img.id)), &inspect); err != nil {
		t.Fatal(err)
	}
	img.config = inspect.OCIv1.Config
	if len(img.config.Entrypoint) == 0 {
		t.Fatal("the image has no entrypoint")
	}
	return img
}

// mount makes a working container of the image and returns its root
// filesystem, writable as a container's is.
func (img *image) mount(t *testing.T) string {
	t.Helper()
	ctr := img.buildah(t, "from", "--quiet", img.id)
	rootfs := img.buildah(t, "mount", ctr)
	t.Cleanup(func() { exec.Command("buildah", append(append([]string{}, img.storage...), "umount", ctr)...).Run() })
	return rootfs
}
