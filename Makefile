# ai-proxy-wasm — every set-up step lives here so that a fresh clone with
# only Go installed can run `make run` and `make test`.

GO        ?= go
WASM      := dist/ai-proxy.wasm
LISTEN    ?= 127.0.0.1:9080
CONFIG    ?= examples/local/config.yaml
HOST_PROFILE ?= envoy-fixed
WORKERS   ?= 2
BENCHCOUNT ?= 10

.PHONY: build run test check bench vet clean

build: $(WASM)

# The filter is rebuilt whenever any Go file it may link changes.
$(WASM): go.mod go.sum $(shell find filter providers convert sigv4 gcpauth -name '*.go' -not -name '*_test.go' 2>/dev/null)
	@mkdir -p dist
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./filter

run: $(WASM)
	$(GO) run ./e2e/cmd/gateway -wasm $(WASM) -listen $(LISTEN) -config $(CONFIG) -profile $(HOST_PROFILE) -workers $(WORKERS)

# e2e tests load $(WASM) through AI_PROXY_WASM; without it they build it.
test: check $(WASM)
	$(GO) vet ./...
	AI_PROXY_WASM=$(CURDIR)/$(WASM) $(GO) test -count=1 ./...

# check fails when a Go file is not gofmt'ed or go.mod/go.sum are not tidy.
GOFILES = $(shell find . -name '*.go' -not -path './.cache/*' -not -path './dist/*' 2>/dev/null)
check:
	@bad=$$(gofmt -l $(GOFILES)); if [ -n "$$bad" ]; then echo "gofmt -l reports:"; echo "$$bad"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

bench: $(WASM)
	AI_PROXY_WASM=$(CURDIR)/$(WASM) $(GO) run ./e2e/cmd/bench -count $(BENCHCOUNT)

clean:
	rm -rf dist
