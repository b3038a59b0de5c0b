// Command release makes clusterd's release artifacts in one directory:
// static binaries for each architecture, .deb and .rpm packages, and
// SHA256SUMS over all of them.
//
//	cd release && go run . -version v1.2.0 -out ../dist
//
// `make release` runs it with the version stamps of `make build`. It is a
// module of its own so that nfpm (the packager, used as a library: no tool
// is downloaded) and the Kubernetes API types of the example's test do not
// become dependencies of clusterd itself: the root go.mod stays what the
// product needs.
//
// The packages install:
//
//	/usr/bin/clusterd
//	/usr/lib/systemd/system/clusterd@.service  (clusterd@NAME runs /etc/clusterd/NAME.yml)
//	/usr/share/man/man1/clusterd*.1.gz      (go run ./internal/genman)
//	/usr/share/bash-completion/completions/clusterd, zsh and fish alike
//	                                        (cobra's clusterd completion SHELL)
//
// Man pages and completions come from running the freshly built binary for
// this machine's architecture, so they describe exactly its command tree.
package main
