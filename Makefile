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

# Our demo against the TypeScript model server (issue 9), side by side on SQLite and
# PostgreSQL: test/load/measure.sh compare (CONC, DURATION, DBS, BEARER_METHOD; npm ci
# of the model once into ~/.cache/fosite-mcp). soak: minutes of mixed load against the
# demo (SOAK_DURATION, SOAK_INTERVAL, SOAK_C, DEMO_ARGS). Results in LOAD_OUT.
# test-ts-model: the harness's smoke test against the model (needs node and npm).
LOAD_OUT ?= /tmp/mcp-auth-load-results
.PHONY: bench-compare soak test-ts-model
bench-compare:
	./test/with-postgres.sh test/load/measure.sh compare $(LOAD_OUT)

soak:
	./test/with-postgres.sh test/load/measure.sh soak $(LOAD_OUT)

test-ts-model:
	FOSITE_MCP_TS_MODEL=$$(test/load/ts-model.sh) $(GO) test -count=1 -run 'TSModel' -v ./test/load/...

# The official MCP conformance suite (@modelcontextprotocol/conformance, authorization
# scenarios) against the demo server (built and run with -auto-approve) and the
# conformance test stack, on SQLite and PostgreSQL. install.sh puts the suite and the
# Node.js 22 it needs into test/conformance/official/node_modules.
.PHONY: conformance-official
conformance-official:
	./test/conformance/official/install.sh
	FOSITE_MCP_OFFICIAL_CONFORMANCE=1 ./test/with-postgres.sh $(GO) test -count=1 -v -run 'TestOfficialConformance' ./test/conformance/official/
