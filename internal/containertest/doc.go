// Package containertest holds only a test: it builds the image of the
// repository's Containerfile with buildah and runs it the way a container
// runtime would, in fresh pid, mount, uts and network namespaces with the
// image's root filesystem as root (unshare + chroot), to show what the
// README promises of clusterd as a container's PID 1: it serves, reloads on
// SIGHUP and drains on SIGTERM without failing a request, and reaps orphans.
//
// It runs the namespaces itself rather than through podman because a
// runtime needs cgroup v2 or CAP_SYS_RESOURCE, which build machines often
// lack; it needs root, buildah, unshare, nsenter and ip. `make
// container-test` runs it (CLUSTERD_CONTAINER_TEST=1); a plain go test
// skips it.
package containertest
