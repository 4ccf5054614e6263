# holdfast — the two commands a new user needs are `make run` and `make test`.
# Both work from a clean clone: Go fetches modules itself, and
# scripts/install-test-deps.sh installs the system tools the tests use.

GO        ?= go
FUZZTIME  ?= 20s
DATA      ?= ./holdfast-data

.PHONY: run test test-deps vet unit crashtest fuzz build clean

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

# The explorer runs 2,000 crash states under -race in `unit`; here the full
# 10,000 without the race detector's slowdown.
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

clean:
	rm -rf bin
