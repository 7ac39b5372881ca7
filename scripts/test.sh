#!/usr/bin/env bash
# make test: run the whole Go test suite against a PostgreSQL server.
#
# The server is chosen by scripts/testenv.sh (CTMS_TEST_DB_URL, 127.0.0.1:5432, or the
# private server of scripts/pg.sh); the PostgreSQL server binaries are installed when
# missing, for the test that stops and starts a database of its own. `go test` flags come
# from TESTFLAGS, default -race where cgo works (TESTFLAGS= turns it off; TESTFLAGS='-run X -v'),
# after -timeout 30m: go test's default of 10 minutes per package is too short for cmd/ctms
# and internal/httpapi under -race on a busy two-core machine.
# The fuzz targets' seed corpora run as ordinary tests; `make fuzz` fuzzes them. The tests
# drop every database they create (internal/testdb); the migrated template ctms_tmpl_<hash>
# stays, to be cloned by the next run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/testenv.sh
. scripts/testenv.sh
trap private_pg_note EXIT
need_pg_binaries

if [ -z "${TESTFLAGS+set}" ]; then
  TESTFLAGS=""
  if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null; then
    TESTFLAGS=-race
  fi
fi
# shellcheck disable=SC2086 # TESTFLAGS is a list of flags
go test -count=1 -timeout 30m $TESTFLAGS ./...
