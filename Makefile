# make test: vet, then every test with the race detector, on SQLite and on a throwaway
# PostgreSQL (see test/with-postgres.sh). REQUIRE_POSTGRES=1 turns a missing PostgreSQL
# into a failure instead of a SQLite-only run.
GO ?= go
GOTESTFLAGS ?= -race -count=1 -timeout 12m

.PHONY: test vet bench fuzz demo
test: vet
	./test/with-postgres.sh $(GO) test $(GOTESTFLAGS) ./...

vet:
	$(GO) vet ./...

# Benchmarks on both databases; BENCH selects (default all).
BENCH ?= .
bench:
	./test/with-postgres.sh $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

demo:
	$(GO) run ./cmd/demo
