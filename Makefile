# CTMS-Go. `make run` serves the API on :8000 against a private development database;
# `make test` runs every test against PostgreSQL (installed and started when missing).

GO ?= go
# Build stamp served by /__version__ (internal/version).
VERSION ?= $(shell git describe --tags 2>/dev/null || echo v0.0.0)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo HEAD)
BUILD ?=
LDFLAGS := -X github.com/ctms-go/ctms/internal/version.Version=$(VERSION) \
	-X github.com/ctms-go/ctms/internal/version.Commit=$(COMMIT) \
	-X github.com/ctms-go/ctms/internal/version.Build=$(BUILD)

# npm tools of contract, lint-spec and e2e: pinned in tools/contract/package-lock.json,
# installed into tools/contract/node_modules (not committed).
NPM ?= npm
TOOLS := tools/contract
NODE_BIN := $(TOOLS)/node_modules/.bin

.PHONY: build generate dashboards rules-test ops-test check security lint-spec contract e2e npm-tools db migrate run test fuzz bench ha-test sync-test sync-bench

## build: compile bin/ctms
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ctms ./cmd/ctms

## generate: regenerate gen/api and gen/client (oapi-codegen) and gen/db (sqlc)
generate:
	$(GO) tool oapi-codegen -config oapi.yaml api/openapi.yaml
	$(GO) tool oapi-codegen -config oapi-client.yaml api/openapi.yaml
	$(GO) tool sqlc generate

## dashboards: write the Grafana dashboards deploy/grafana/*.json (cmd/ctms-dashboards, Grafana
## Foundation SDK); commit them
dashboards:
	$(GO) run ./cmd/ctms-dashboards -out deploy/grafana

## rules-test: promtool check rules and promtool test rules on deploy/prometheus (installs
## Debian's prometheus package when missing, as root)
rules-test:
	scripts/ops-deps.sh
	promtool check rules deploy/prometheus/ctms.rules.yml
	cd deploy/prometheus && promtool test rules ctms.rules.test.yml ctms.rules.slow.test.yml

## ops-test: rules-test, then a real Prometheus scraping two bin/ctms instances behind PgBouncer
## (transaction pooling) under mixed traffic: every dashboard query and recording rule evaluates
## with data, every alert rule is healthy, the database alert fires when the database stops, and
## the change feed skips no late commit (scripts/ops-test.sh; docs/operations.md)
ops-test: build rules-test
	GO=$(GO) scripts/ops-test.sh

## check: gofmt, go vet, spec lint, generated code and dashboards up to date, and make security
check:
	@unformatted=$$(git ls-files --cached --others --exclude-standard '*.go' | grep -v '^gen/' | \
	  while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done | xargs -r gofmt -l); \
	  if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) --no-print-directory lint-spec
	$(MAKE) --no-print-directory generate
	@if [ -n "$$(git status --porcelain -- gen/)" ]; then \
	  echo "gen/ is stale: run make generate and commit the result"; git status --porcelain -- gen/; exit 1; fi
	$(MAKE) --no-print-directory dashboards
	@if [ -n "$$(git status --porcelain -- deploy/)" ]; then \
	  echo "deploy/ is stale: run make dashboards and commit the result"; git status --porcelain -- deploy/; exit 1; fi
	$(MAKE) --no-print-directory security

## security: govulncheck (Go tool dependency) and gosec (pinned, installed into bin/); scripts/security.sh.
## Without access to the vulnerability database (vuln.go.dev, or GOVULNDB) govulncheck only warns.
GOSEC_VERSION ?= v2.30.0
security:
	GO=$(GO) GOSEC_VERSION=$(GOSEC_VERSION) scripts/security.sh

## db: start the private development PostgreSQL and print the URL of its ctms database
db:
	@scripts/pg.sh url ctms

## migrate: apply migrations to CTMS_DB_URL (default: the private development database)
migrate: build
	scripts/run.sh migrate

## run: migrate, create the development API client once, serve on :8000
run: build
	scripts/run.sh

## test: go test ./... against CTMS_TEST_DB_URL, 127.0.0.1:5432, or the private server
## (the fuzz targets' seed corpora included)
test:
	scripts/test.sh

## fuzz: go test -fuzz on every fuzz target, one package and target at a time, FUZZTIME each
## (FUZZ=regexp picks targets), minimising new inputs for at most FUZZMINIMIZETIME; prints the
## executions of each target; failing inputs land in testdata/fuzz/ (commit them)
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 100x
fuzz:
	FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) FUZZ='$(FUZZ)' scripts/fuzz.sh

## npm-tools: install the pinned npm tools (again when package.json or the lock file changes)
npm-tools: $(TOOLS)/node_modules/.installed
$(TOOLS)/node_modules/.installed: $(TOOLS)/package.json $(TOOLS)/package-lock.json
	cd $(TOOLS) && $(NPM) ci --no-audit --no-fund --ignore-scripts
	@touch $@

## lint-spec: lint api/openapi.yaml with Redocly CLI (rules in redocly.yaml)
lint-spec: npm-tools
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  $(NODE_BIN)/redocly lint api/openapi.yaml --config redocly.yaml --format stylish

## contract: TypeScript types from the spec (openapi-typescript), then type-check
## tools/contract/check.ts, which calls every operation through openapi-fetch
contract: npm-tools
	cd $(TOOLS) && node_modules/.bin/openapi-typescript ../../api/openapi.yaml -o gen/schema.d.ts \
	  --default-non-nullable=false --empty-objects-unknown
	$(NODE_BIN)/tsc -p $(TOOLS) --noEmit --strict

## e2e: /docs and /redoc in headless Chromium against a static bin/ctms (scripts/e2e.sh)
e2e: export CGO_ENABLED := 0
e2e: build npm-tools
	scripts/e2e.sh

## bench: service vs ceiling benchmark (cmd/ctms-bench): wrk drives bin/ctms serve, pgbench runs the
## ceiling SQL, on a private PostgreSQL server with pg_stat_statements; prints the table with the CPU
## split per request and updates docs/performance.md. Installs wrk when missing (scripts/bench-deps.sh).
## BENCH_CONTACTS (100000), BENCH_DURATION (5s), BENCH_OPS, BENCH_CONCURRENCY (64): see docs/performance.md.
bench:
	scripts/bench-deps.sh
	$(GO) run ./cmd/ctms-bench

## ha-test: failover drill (scripts/ha-test.sh): a pg_auto_failover formation (monitor + 2 nodes,
## synchronous replication) on loopback, 2 instances under write load, `pg_autoctl perform
## failover`, then 0 lost acknowledged writes, only 503s, and /updates from the standby. Installs
## postgresql-15-auto-failover when missing (root). About 2 minutes; .ci/run runs it.
ha-test:
	GO=$(GO) scripts/ha-test.sh

## sync-test: the Braze sync drill (scripts/sync-test.sh, cmd/ctms-synctest): a private PostgreSQL,
## ctms serve, two ctms sync replicas and ctms-brazefake on loopback; 100,000 contacts backfilled,
## mixed API and SQL writes, the active syncer SIGKILLed 3 times, 20 % failed requests, a 429 storm,
## a PostgreSQL restart; then every profile, deletion and the order of accepted writes checked
## against the database. Prints the figures (backfill rate, takeover times). .ci/run runs it.
sync-test:
	GO=$(GO) scripts/sync-test.sh drill

## sync-bench: the lag benchmark of ctms sync (cmd/ctms-synctest -mode bench): 200 writes/s through
## the API for 30 s, then the 50th/99th percentile from each write's response to ctms-brazefake's
## acceptance (docs/performance.md#braze-sync)
sync-bench:
	GO=$(GO) scripts/sync-test.sh bench
