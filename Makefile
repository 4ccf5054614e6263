# holdfast — the two commands a new user needs are `make run` and `make test`.
# Both work from a clean clone: Go fetches modules itself, and
# scripts/install-test-deps.sh installs the system tools the tests use.
# `make bench` measures holdfast against its peers and the disk (see
# docs/benchmarks.md); `make bench BENCH_QUICK=1` is a short smoke run.

GO        ?= go
FUZZTIME  ?= 20s
DATA      ?= ./holdfast-data
# BENCH_QUICK=1 makes `make bench` a short smoke run; BENCH_FLAGS passes
# more flags to holdfast-bench run (e.g. -only put,read or -engines holdfast,pebble).
BENCH_QUICK ?=
BENCH_FLAGS ?=

.PHONY: run test test-deps vet unit crashtest fuzz build clean bench bench-deps bench-report bench-test

## run: build holdfast and run the server on its embedded default
## (data in ./holdfast-data, HTTP on 127.0.0.1:7070, RESP on 127.0.0.1:6380)
run:
	$(GO) build -o bin/holdfast ./cmd/holdfast
	exec ./bin/holdfast serve --data $(DATA)

## test: install what the tests need, then vet and run every test with the race detector
test: test-deps vet unit crashtest

test-deps:
	bash scripts/install-test-deps.sh

vet:
	@out="$$($$($(GO) env GOROOT)/bin/gofmt -l .)"; test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# The explorer runs 2,000 crash states under -race in `unit`; here 10,000
# for each of four seeds, without the race detector's slowdown.
crashtest:
	$(GO) test -count=1 -run '^TestExplore$$' ./internal/crashtest/

## fuzz: run every fuzz target for FUZZTIME each (not part of `make test`)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

build:
	$(GO) build -o bin/holdfast ./cmd/holdfast

## bench: install the peer servers, run every benchmark against peers and the
## physical limit, and write docs/benchmarks.md, docs/bench/*.png, *.csv and
## results.json. The benchmarks live in bench/, a Go module of their own, so
## the peer databases never enter holdfast's go.mod.
bench: bench-deps
	cd bench && $(GO) build -o holdfast-bench .
	cd bench && ./holdfast-bench run $(if $(BENCH_QUICK),-quick) $(BENCH_FLAGS) -out ../docs/bench -report ../docs/benchmarks.md

bench-deps:
	bash scripts/install-bench-deps.sh

## bench-test: the benchmark module's own tests (engine adapters, report helpers)
bench-test:
	cd bench && $(GO) vet . && $(GO) test -count=1 .

## bench-report: regenerate docs/benchmarks.md and the charts from docs/bench/results.json
bench-report:
	cd bench && $(GO) build -o holdfast-bench . && ./holdfast-bench report -out ../docs/bench -report ../docs/benchmarks.md

clean:
	rm -rf bin

## study: rerun the ATC'20 fsync-failure study on the faultfs FUSE mount and
## regenerate docs/study.md (needs root, /dev/fuse and the study's programs;
## not part of `make test`)
.PHONY: study
study:
	bash scripts/install-study-deps.sh
	$(GO) run ./cmd/faultfs study --out docs/study.md
