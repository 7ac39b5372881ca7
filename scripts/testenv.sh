# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/fuzz.sh: the PostgreSQL server the tests use.
#
# CTMS_TEST_DB_URL (an admin URL: tests create and drop databases) when set; else
# 127.0.0.1:5432 as user postgres when a server answers there; else the private server of
# scripts/pg.sh, installed and started on demand (private_pg_note, run at exit, says so).
private_pg=""
if [ -z "${CTMS_TEST_DB_URL:-}" ]; then
  local_url=postgresql://postgres@127.0.0.1:5432/postgres
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && go run scripts/pgdb.go ping "$local_url" 2>/dev/null; then
    CTMS_TEST_DB_URL=$local_url
  else
    if scripts/pg.sh status 2>/dev/null; then private_pg=running; else private_pg=started; fi
    CTMS_TEST_DB_URL=$(scripts/pg.sh url)
  fi
  export CTMS_TEST_DB_URL
  echo "$(basename "$0"): tests use the PostgreSQL server at $CTMS_TEST_DB_URL" >&2
fi

# private_pg_note: when the tests used the private server, say so and how to stop it (it
# keeps running, so that the next run need not start it again).
private_pg_note() {
  case "$private_pg" in
    started) echo "$(basename "$0"): started the private PostgreSQL server of scripts/pg.sh ($CTMS_TEST_DB_URL);" \
      "it keeps running for the next run: stop it with scripts/pg.sh stop" >&2 ;;
    running) echo "$(basename "$0"): used the private PostgreSQL server of scripts/pg.sh ($CTMS_TEST_DB_URL)," \
      "already running: stop it with scripts/pg.sh stop" >&2 ;;
  esac
}

# need_pg_binaries: the database-outage test (cmd/ctms/outage_test.go) runs a PostgreSQL
# of its own, so it needs the server binaries even when the tests' server is elsewhere
# (e.g. on 5432): scripts/pgbin.sh installs them when missing (root), once, before the test
# binaries run in parallel (they find them through it too: internal/testdb.PGBinDir).
need_pg_binaries() {
  if ! scripts/pgbin.sh >/dev/null; then
    echo "$(basename "$0"): WARNING: no PostgreSQL server binaries: TestDatabaseOutageUnderLoad will fail" >&2
  fi
}
