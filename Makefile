# clusterd — the two commands a newcomer needs:
#   make demo   runs a demo cluster (one worker per CPU) on 127.0.0.1:3000
#   make test   runs every test, with the race detector (what CI runs)

GO      ?= go
BIN     := bin/clusterd
LISTEN  ?= 127.0.0.1:3000

.PHONY: build demo test vet fmt-check clean

build:
	$(GO) build -o $(BIN) ./cmd/clusterd

# Ctrl-C stops the cluster gracefully. Try, from another terminal:
#   curl -s $(LISTEN)/   ;  kill -HUP <master pid>   ;  $(BIN) status
demo: build
	./$(BIN) -i max -l $(LISTEN) --wait-ready -- ./$(BIN) demo

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 10m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on: $$out"; exit 1; fi

clean:
	rm -rf bin
