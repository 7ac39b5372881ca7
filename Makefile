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

.PHONY: build generate check db migrate run test

## build: compile bin/ctms
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ctms ./cmd/ctms

## generate: regenerate gen/api and gen/client (oapi-codegen) and gen/db (sqlc)
generate:
	$(GO) tool oapi-codegen -config oapi.yaml api/openapi.yaml
	$(GO) tool oapi-codegen -config oapi-client.yaml api/openapi.yaml
	$(GO) tool sqlc generate

## check: gofmt, go vet, and generated code up to date
check:
	@unformatted=$$(git ls-files --cached --others --exclude-standard '*.go' | grep -v '^gen/' | \
	  while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done | xargs -r gofmt -l); \
	  if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) --no-print-directory generate
	@if [ -n "$$(git status --porcelain -- gen/)" ]; then \
	  echo "gen/ is stale: run make generate and commit the result"; git status --porcelain -- gen/; exit 1; fi

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
test:
	scripts/test.sh
