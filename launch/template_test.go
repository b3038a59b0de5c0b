package launch

import (
	"slices"
	"testing"
)

// TestReleaseEnv: a release's own variables go over the master's, the last
// of a name winning, and the workers' environment keeps none of what is
// the master's own.
func TestReleaseEnv(t *testing.T) {
	t.Setenv("CLUSTERD_TEST_KEPT", "master")
	t.Setenv("CLUSTERD_TEST_OVER", "master")
	tmpl, err := NewTemplate("", "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer tmpl.Close()
	env := tmpl.ReleaseEnv([]string{"CLUSTERD_TEST_OVER=1", "CLUSTERD_TEST_OVER=2"}, nil)
	if !slices.Contains(env, "CLUSTERD_TEST_KEPT=master") || !slices.Contains(env, "CLUSTERD_TEST_OVER=2") ||
		slices.Contains(env, "CLUSTERD_TEST_OVER=master") || slices.Contains(env, "CLUSTERD_TEST_OVER=1") {
		t.Errorf("release environment %v", env)
	}
	var w Worker
	if err := tmpl.Prepare(&w); err != nil || w.Stdio[0] == 0 || w.Credential != nil || w.PreloadIPC {
		t.Errorf("Prepare: %+v, %v", w, err)
	}
}
