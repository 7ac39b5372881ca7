#!/usr/bin/env bash
# make test: run the whole Go test suite against a PostgreSQL server.
#
# The server is CTMS_TEST_DB_URL (an admin URL: tests create and drop databases) when set;
# else 127.0.0.1:5432 as user postgres when a server answers there; else the private
# server of scripts/pg.sh, installed and started on demand. `go test` flags come from
# TESTFLAGS, default -race where cgo works (TESTFLAGS= turns it off; TESTFLAGS='-run X -v').
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${CTMS_TEST_DB_URL:-}" ]; then
  local_url=postgresql://postgres@127.0.0.1:5432/postgres
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && go run scripts/pgping.go "$local_url" 2>/dev/null; then
    CTMS_TEST_DB_URL=$local_url
  else
    CTMS_TEST_DB_URL=$(scripts/pg.sh url)
  fi
  export CTMS_TEST_DB_URL
  echo "test.sh: tests use the PostgreSQL server at $CTMS_TEST_DB_URL" >&2
fi

if [ -z "${TESTFLAGS+set}" ]; then
  TESTFLAGS=""
  if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null; then
    TESTFLAGS=-race
  fi
fi
# shellcheck disable=SC2086 # TESTFLAGS is a list of flags
exec go test -count=1 $TESTFLAGS ./...
