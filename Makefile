# clusterd — the two commands a newcomer needs:
#   make demo   runs a demo cluster (one worker per CPU) on 127.0.0.1:3000
#   make test   runs every test, with the race detector (what CI runs)

GO      ?= go
BIN     := bin/clusterd
LISTEN  ?= 127.0.0.1:3000

# What `clusterd --version` prints (internal/version): stamped here, so a binary says which
# commit it is. DATE honours SOURCE_DATE_EPOCH for reproducible builds.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/clusterd/clusterd/internal/version
STAMP   := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).Date=$(DATE)

.PHONY: build demo test fuzz vet fmt-check clean

# Static (CGO_ENABLED=0): no libc and no dynamic loader mapped into the master and
# into every worker start, 2 MiB less master RSS and 0.4 ms less per exec (bench/README.md).
# The price: --user and --group resolve names from /etc/passwd and /etc/group only (no
# NSS/LDAP), as in the static container image of examples/Dockerfile.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(STAMP)" -o $(BIN) ./cmd/clusterd

# Ctrl-C stops the cluster gracefully. Try, from another terminal:
#   curl -s $(LISTEN)/   ;  kill -HUP <master pid>   ;  $(BIN) status
demo: build
	./$(BIN) -i max -l $(LISTEN) --wait-ready -- ./$(BIN) demo

# The release module's tests (mostly compiling) run beside the main suite, whose longest
# package spends its time waiting on processes; their output follows the suite's.
test: fmt-check vet
	@command -v dpkg >/dev/null || echo "package test skipped: dpkg not found"
	@release=$$(mktemp); \
	(cd release && $(GO) test -count=1 -timeout 5m ./... >$$release 2>&1; echo "exit $$?" >>$$release) & \
	$(GO) test -race -count=1 -timeout 15m ./...; suite=$$?; \
	wait; echo "cd release && $(GO) test -count=1 -timeout 5m ./..."; cat $$release; \
	released=$$(tail -1 $$release); rm -f $$release; \
	[ $$suite = 0 ] && [ "$$released" = "exit 0" ]
	@if [ "$$(id -u)" = 0 ] && command -v buildah >/dev/null && command -v unshare >/dev/null; then \
		$(MAKE) --no-print-directory container-test; \
	else echo "container-test skipped: needs root and buildah (apt-get install buildah)"; fi

# Fuzz targets (func FuzzXxx) run their seeds and testdata/fuzz corpus in make test; make fuzz
# runs each for FUZZTIME, one after another. A failing input lands in testdata/fuzz/FuzzXxx;
# to keep new coverage, copy it there from $(go env GOCACHE)/fuzz.
FUZZTIME ?= 30s
FUZZPKGS ?= ./...

fuzz:
	@list=$$($(GO) test -run '^$$' -list '^Fuzz' $(FUZZPKGS)) || { echo "$$list"; exit 1; }; \
	echo "$$list" | awk '/^Fuzz/ { names[++n] = $$1 } /^ok/ { for (i = 1; i <= n; i++) print $$2, names[i]; n = 0 }' | \
	while read pkg name; do \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

vet:
	$(GO) vet ./...
	cd release && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on: $$out"; exit 1; fi

clean:
	rm -rf bin dist

# Benchmarks (bench/README.md): clusterd side by side with bare processes, PM2 and Node's
# cluster module. Not part of make test. bench-tools installs what is missing: wrk from the
# Debian archive, PM2 from npm into bench/.tools (never globally).
BENCH_TOOLS := bench/.tools
PM2         := $(BENCH_TOOLS)/node_modules/.bin/pm2
PM2_VERSION ?= 7.0.4
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The worker trampoline (launch/trampoline.go): rebuild the embedded bytes after editing the
# assembly; TestTrampolineIsItsSource checks that they match.
.PHONY: trampoline
trampoline:
	as --64 -o /tmp/clusterd-trampoline.o launch/trampoline/trampoline_amd64.S
	ld -static -n -s --build-id=none -o /tmp/clusterd-trampoline /tmp/clusterd-trampoline.o
	{ printf '//go:build linux && amd64\n\npackage launch\n\n'; \
	  printf '// trampolineELF is launch/trampoline/trampoline_amd64.S assembled and linked\n'; \
	  printf '// (make trampoline); a test checks that it still is.\nvar trampolineELF = []byte{\n'; \
	  od -An -v -tx1 /tmp/clusterd-trampoline | sed 's/ \([0-9a-f][0-9a-f]\)/ 0x\1,/g; s/^ /\t/'; printf '}\n'; } > launch/trampoline_amd64.go
	gofmt -w launch/trampoline_amd64.go

.PHONY: bench bench-quick bench-tools

# The full run (about half an hour on 2 cores): writes bench/results/YYYY-MM-DD.md, .json, *.svg.
bench: build bench-tools
	$(GO) run ./bench/suite -clusterd $(BIN) -pm2 $(PM2) -out bench/results

# Every scenario, briefly (a few minutes), to prove the suite works; the report goes to a
# temporary directory.
bench-quick: build bench-tools
	$(GO) run ./bench/suite -quick -clusterd $(BIN) -pm2 $(PM2)

bench-tools: $(PM2)
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }

$(PM2):
	@command -v npm >/dev/null 2>&1 || { echo "Node.js 20 or newer with npm is needed for the PM2 comparison"; exit 1; }
	npm install --prefix $(BENCH_TOOLS) --no-audit --no-fund --loglevel=error pm2@$(PM2_VERSION)

# Release artifacts in dist/: static binaries for linux/amd64 and linux/arm64, .deb and .rpm
# packages (binary, clusterd@.service, man pages, bash/zsh/fish completions) and SHA256SUMS.
# The tool is the nested module release/ (nfpm as a library), so that clusterd's own go.mod
# does not carry a packager's dependencies.
.PHONY: release
release:
	cd release && $(GO) run . -version $(VERSION) -commit $(COMMIT) -date $(DATE) -out ../dist
	cd dist && sha256sum -c --quiet SHA256SUMS

# Builds the .deb for this machine's architecture, installs it with dpkg --root into an
# empty directory, runs the installed clusterd --version and verifies the installed unit.
# make test runs it too (as part of release/'s tests), skipped where dpkg is missing.
.PHONY: package-test
package-test:
	@command -v dpkg >/dev/null || echo "package-test: skipped, dpkg not found"
	cd release && $(GO) test -count=1 -v -run 'TestDebInstalls|TestUnit' .

# Builds the Containerfile's image (FROM scratch + bin/clusterd, no registry) with buildah and
# runs it as a runtime would, in new pid, mount, uts and network namespaces (unshare + chroot):
# clusterd is PID 1, serves, reloads on SIGHUP and drains on SIGTERM under load with 0 failed
# requests, and reaps a worker's orphan. Needs root, buildah (apt-get install buildah),
# unshare, nsenter and ip. About a minute.
.PHONY: container-test
container-test: build
	CLUSTERD_CONTAINER_TEST=1 CLUSTERD_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 5m -run TestContainer ./internal/containertest/
