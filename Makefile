# Continuum — make targets. `make help` lists them.

GO       ?= go
PKG      := github.com/continuumhq/continuum
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/app.Version=$(VERSION) -X $(PKG)/internal/app.Commit=$(COMMIT)
FUZZTIME ?= 2m
STATICCHECK_VERSION := v0.8.2

.PHONY: help build test test-short lint fmt vet staticcheck bench bench-redis cover fuzz fuzz-short bench-overhead demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build a static binary at bin/continuum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/continuum ./cmd/continuum

test: ## run every test with the race detector (the CI test command)
	$(GO) test -race ./...

test-short: ## run the tests without the race detector
	$(GO) test ./...

lint: fmt vet staticcheck ## gofmt, go vet and staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: ## Go benchmarks of the hot path, with allocations
	$(GO) test -run '^$$' -bench . -benchmem ./internal/... ./bench/...

bench-redis: ## the latency shared (Redis) limits add per request (needs redis-server)
	CONTINUUM_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench 'BenchmarkRedisAdmission' -benchmem -benchtime 20000x -count 3 ./bench/

cover: ## coverage report at coverage.html
	$(GO) test -coverprofile=coverage.out ./...
	$(GO) tool cover -html=coverage.out -o coverage.html
	$(GO) tool cover -func=coverage.out | tail -1

fuzz: ## run each fuzz target for FUZZTIME (default 2m)
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/openai
	$(GO) test -run '^$$' -fuzz '^FuzzParseFields$$' -fuzztime $(FUZZTIME) ./internal/openai
	$(GO) test -run '^$$' -fuzz '^FuzzListener$$' -fuzztime $(FUZZTIME) ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzAnthropicRequest$$' -fuzztime $(FUZZTIME) ./internal/translate
	$(GO) test -run '^$$' -fuzz '^FuzzResponsesRequest$$' -fuzztime $(FUZZTIME) ./internal/translate
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEntry$$' -fuzztime $(FUZZTIME) ./internal/cache

fuzz-short: ## run each fuzz target briefly (as CI does)
	$(MAKE) fuzz FUZZTIME=10s

bench-overhead: build ## overhead against direct and nginx (see docs/performance.md); WORKERS=2 adds the multi-process mode
	WORKERS=$(WORKERS) ./bench/overhead.sh

demo: ## run the demo: the router and two simulated backends
	$(GO) run ./cmd/continuum demo

clean:
	rm -rf bin coverage.out coverage.html bench/results
