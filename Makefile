# AutoCV build. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
CACHE         := $(CURDIR)/.cache
ORT_CACHE     := $(CACHE)/onnxruntime
ORT_LIB       := $(ORT_CACHE)/linux-amd64/libonnxruntime.so.1
ORT_GPU       := $(ORT_CACHE)/linux-amd64-gpu/libonnxruntime_providers_cuda.so
TOOLS         := $(CACHE)/bin
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X github.com/autocv/autocv/internal/buildinfo.Version=$(VERSION)

# Pinned tool versions.
PROTOC_GEN_GO      := v1.36.12
PROTOC_GEN_GO_GRPC := v1.6.0
STATICCHECK_MOD    := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Generated code, committed; `make proto-check` proves it is current.
GENERATED := protocol/inference/inferencepb trainer/onnxpb

# What builds without cgo (checked for windows and arm64 by `make check`).
CGO_FREE := ./internal/... ./protocol/... ./plugins/host/... ./agent/... ./controlplane/...

TEST_TIMEOUT ?= 20m
FUZZ_TIME    ?= 10s

export ONNXRUNTIME_LIB ?= $(ORT_LIB)
export AUTOCV_TESTDATA ?= $(abspath $(CURDIR)/../shared/data)

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

.PHONY: deps
deps: $(ORT_LIB) ## fetch onnxruntime (npm onnxruntime-node, hash-checked) and the backbones (sha256-pinned) into .cache
	$(GO) mod download
	@# Backbones: into $$AUTOCV_BACKBONES when set, else .cache/backbones; from
	@# $$AUTOCV_BACKBONES_FROM (folder or archive) when set, else their public
	@# URLs, falling back to $$AUTOCV_TESTDATA/backbones when offline.
	$(GO) run ./trainer/cmd/autocv-trainer fetch-backbones --dest "$${AUTOCV_BACKBONES:-$(CACHE)/backbones}"

$(ORT_LIB):
	installers/onnxruntime/fetch.sh $(ORT_CACHE)

# The GPU SDK's CUDA provider (npm, 180 MB, hash-checked): fetched by
# `make dist` and `make test` (the GPU SDK test), not by `make deps`, so a
# newcomer's `make run` does not download it.
$(ORT_GPU): $(ORT_LIB)
	installers/onnxruntime/fetch-gpu.sh $(ORT_CACHE)

CONSOLE_WEB  := controlplane/console/web
CONSOLE_DIST := controlplane/console/dist/app/index.html

.PHONY: console
console: $(CONSOLE_DIST) ## build the web console (Vite) that autocv-server embeds

$(CONSOLE_DIST): $(CONSOLE_WEB)/package-lock.json $(CONSOLE_WEB)/index.html $(CONSOLE_WEB)/vite.config.js $(shell find $(CONSOLE_WEB)/src -type f)
	npm ci --prefix $(CONSOLE_WEB) --no-audit --no-fund
	npm run --prefix $(CONSOLE_WEB) build

OPENAPI_LINT := protocol/api/lint

.PHONY: openapi openapi-lint
openapi: ## regenerate protocol/api/openapi.json and REST.md from the route table
	$(GO) test ./controlplane/server -run '^TestOpenAPIDocument$$' -update

openapi-lint: $(OPENAPI_LINT)/node_modules/.package-lock.json ## lint protocol/api/openapi.json (@redocly/cli, pinned; zero errors and warnings)
	cd $(OPENAPI_LINT) && npx --no-install redocly lint --config redocly.yaml ../openapi.json

$(OPENAPI_LINT)/node_modules/.package-lock.json: $(OPENAPI_LINT)/package-lock.json
	npm ci --prefix $(OPENAPI_LINT) --no-audit --no-fund --ignore-scripts

.PHONY: build
build: $(ORT_LIB) $(CONSOLE_DIST) ## build every binary into bin/ with onnxruntime beside them
	@mkdir -p $(BIN)
	@# glibc-floor.sh: every binary needs at most GLIBC_2.28 (see the script).
	source installers/build/glibc-floor.sh && \
	$(GO) build -trimpath -ldflags '$(LDFLAGS) '"$$GO_LDFLAGS_EXTRA" -o $(BIN)/ ./plugins/onnx/cmd/... $(wildcard ./agent/cmd/*) $(wildcard ./controlplane/cmd/*) $(wildcard ./trainer/cmd/*)
	cp -f $(ORT_LIB) $(BIN)/libonnxruntime.so.1

.PHONY: dist
dist: $(ORT_GPU) $(CONSOLE_DIST) ## every artefact into dist/: SDK runtimes per platform (cpu, gpu, arm64, windows), .deb/.rpm (amd64, arm64), the Windows MSI; prints sizes
	installers/dist.sh

.PHONY: run
run: build ## build and start the system on its embedded defaults
	installers/run.sh

.PHONY: test
test: $(ORT_LIB) $(ORT_GPU) $(CONSOLE_DIST) openapi-lint ## run all tests (race detector, real processes), the OpenAPI lint and short fuzz runs
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZ_TIME (default 10s; longer by hand)
	@# A crash is saved under testdata/fuzz and replayed by the second run,
	@# which then fails too; a run that failed without one (the engine's own
	@# worker hiccup on a loaded machine) is shown and tried once more.
	@set -e; out=$$(mktemp); for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$dir/*_test.go 2>/dev/null | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$f ($(FUZZ_TIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) $$pkg >$$out 2>&1 || { \
				tail -40 $$out; echo "fuzz $$pkg $$f failed; once more (a saved crash fails again)"; \
				$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) $$pkg; }; \
		done; \
	done; rm -f $$out

.PHONY: bench
bench: build ## benchmarks (tables): plugin vs in-process onnxruntime, decode+preprocess; trainer accuracy, backbone answers across instruction sets (qemu) and the cost of float, stage times, extraction, 1000 photos; agent :8987 vs plugin, hot swaps, 5 MB package over MQTT vs HTTP; control plane import throughput, list latency with 10k images, cloud /infer vs in-process
	$(GO) run ./plugins/onnx/internal/bench -bin $(BIN)
	$(GO) run ./trainer/internal/bench -bin $(BIN)
	$(GO) run ./trainer/internal/isaspread -ort $(ORT_LIB) -data $(AUTOCV_TESTDATA)
	$(GO) run ./plugins/onnx/internal/demo -data $(AUTOCV_TESTDATA) -out $(CACHE)/demo
	$(GO) run ./agent/internal/bench -bin $(BIN) -package $(CACHE)/demo/package.tar.gz -data $(AUTOCV_TESTDATA)
	$(GO) run ./controlplane/internal/bench -bin $(BIN) -data $(AUTOCV_TESTDATA)
	node $(CONSOLE_WEB)/bench.mjs

SOAK_DURATION ?= 10m

.PHONY: soak
soak: build ## soak (not in test): SOAK_DURATION of mixed load with faults against the real server; prints answers, RSS peaks, anything lost
	$(GO) run ./controlplane/internal/soak -bin $(BIN) -data $(AUTOCV_TESTDATA) -duration $(SOAK_DURATION)

.PHONY: check
check: proto-check ## go vet, staticcheck, and cgo-free cross-builds (windows/amd64, linux/arm64)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK_MOD) ./...
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build $(CGO_FREE)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(CGO_FREE)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(CGO_FREE)

.PHONY: proto
proto: ## regenerate protobuf code (protoc from Debian's protobuf-compiler + pinned plugins)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	PATH=$(TOOLS):$$PATH protoc -I protocol/inference/proto \
		--go_out=protocol/inference/inferencepb --go_opt=paths=source_relative \
		--go-grpc_out=protocol/inference/inferencepb --go-grpc_opt=paths=source_relative \
		protocol/inference/proto/inference.proto
	@# trainer/onnxpb: ONNX 1.12's onnx.proto from Debian's libonnx-dev (no go_package in it).
	@test -f /usr/include/onnx/onnx.proto || { echo "/usr/include/onnx/onnx.proto missing: apt-get install libonnx-dev"; exit 1; }
	PATH=$(TOOLS):$$PATH protoc -I /usr/include \
		--go_out=. --go_opt=module=github.com/autocv/autocv \
		--go_opt=Monnx/onnx.proto=github.com/autocv/autocv/trainer/onnxpb \
		onnx/onnx.proto

.PHONY: proto-check
proto-check: proto ## fail when the committed generated code differs from `make proto`
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated code differs from make proto"; exit 1; }
	@new=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
		if [ -n "$$new" ]; then echo "make proto wrote files git does not track: $$new"; exit 1; fi

.PHONY: clean
clean: ## remove build output (keeps the onnxruntime cache)
	rm -rf $(BIN) controlplane/console/dist/app
