#!/usr/bin/env bash
# A private PostgreSQL server for development and tests, kept in .data/pg.
#
#   scripts/pg.sh url [DBNAME]   start the server if needed and print its connection URL
#                                (with DBNAME: create that database if missing and point at it)
#   scripts/pg.sh start          start the server if needed
#   scripts/pg.sh stop           stop it
#   scripts/pg.sh status         say whether it runs
#
# Only the URL goes to stdout; everything else to stderr. It listens on 127.0.0.1 only
# (port $CTMS_PG_PORT, default 54329) with trust authentication: for development only.
# It never touches a server on 5432. The PostgreSQL server binaries come from
# scripts/pgbin.sh (which installs them when missing, as root). initdb refuses to run as root, so as
# root the server runs as the `postgres` system user (created as `ctms-pg` if absent).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${CTMS_PG_PORT:-54329}

log() { printf 'pg.sh: %s\n' "$*" >&2; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
die() { log "$*"; exit 1; }

# pgbin [MAJOR]: the server binaries' directory (scripts/pgbin.sh).
pgbin() { "$repo/scripts/pgbin.sh" "$@"; }

# The server cannot run as root: pick the account that owns and runs it (after any install,
# which creates `postgres`).
pg_user=""
pick_user() {
  pg_user=""
  if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then
      pg_user=postgres
    else
      pg_user=ctms-pg
    fi
  fi
}

# Runs a PostgreSQL program as the server's account. fd 9 (the start lock) is closed so the
# server does not inherit it and hold the lock for its lifetime.
as_pg() {
  if [ -n "$pg_user" ]; then
    (cd / && runuser -u "$pg_user" -- "$@" 9>&-)
  else
    "$@" 9>&-
  fi
}

ensure_user() {
  [ -n "$pg_user" ] || return 0
  id "$pg_user" >/dev/null 2>&1 && return 0
  log "creating system user $pg_user to run PostgreSQL"
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$pg_user" ||
    die "could not create user $pg_user"
}

# Data under the repository's .data, unless the server's account cannot reach it (a clone
# inside a private home directory): then under /var/tmp, named after the repository path.
choose_dirs() {
  base="$repo/.data"
  mkdir -p "$base"
  if [ -n "$pg_user" ] && ! runuser -u "$pg_user" -- test -x "$base" 2>/dev/null; then
    base="/var/tmp/ctms-pg-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)"
    mkdir -p "$base"
  fi
  data="$base/pg"
  run="$base/pg.run" # log and unix socket
}

running() { [ -f "$data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1; }

start() {
  pgbin >/dev/null || exit 1 # installs them when missing (which creates the postgres account)
  pick_user
  ensure_user
  choose_dirs
  exec 9>"$base/pg.lock"
  flock 9 # one start at a time

  if [ -f "$data/PG_VERSION" ]; then
    bindir=$(pgbin "$(cat "$data/PG_VERSION")") ||
      die "$data was made by PostgreSQL $(cat "$data/PG_VERSION"), whose binaries are not installed; remove $data to start afresh"
  else
    bindir=$(pgbin)
  fi
  if running; then
    return 0
  fi

  mkdir -p "$run"
  [ -z "$pg_user" ] || chown "$pg_user:" "$run"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a PostgreSQL $(basename "$(dirname "$bindir")") cluster in $data"
    rm -rf "$data"
    mkdir -p "$data"
    [ -z "$pg_user" ] || chown "$pg_user:" "$data"
    chmod 700 "$data"
    local locale=C
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && locale=C.UTF-8
    as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale="$locale" >"$run/initdb.log" 2>&1 ||
      { cat "$run/initdb.log" >&2; die "initdb failed"; }
    # Throwaway development data: trade durability for speed.
    cat >>"$data/postgresql.conf" <<'EOF'

# scripts/pg.sh (development and tests only)
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
EOF
  fi

  # A unix socket path must stay under ~107 bytes; without room for one, TCP only.
  local sockdir="$run"
  [ ${#sockdir} -le 90 ] || sockdir=""
  # Another checkout's private server may hold the default port: take the next free one.
  if [ -z "${CTMS_PG_PORT:-}" ]; then
    while port_in_use "$port"; do
      [ "$port" -lt 54429 ] || die "no free port in 54329-54429"
      port=$((port + 1))
    done
  fi
  log "starting PostgreSQL on 127.0.0.1:$port (data $data, log $run/postgres.log)"
  as_pg "$bindir/pg_ctl" start -D "$data" -l "$run/postgres.log" -w -t 60 \
    -o "-p $port -k '$sockdir'" >/dev/null ||
    { tail -n 20 "$run/postgres.log" >&2 || true; die "PostgreSQL did not start (port $port taken? see $run/postgres.log)"; }
}

# The port the running server listens on (4th line of postmaster.pid).
server_port() { sed -n 4p "$data/postmaster.pid" 2>/dev/null || echo "$port"; }

url() {
  start
  local u
  u="postgresql://postgres@127.0.0.1:$(server_port)"
  local db=${1:-}
  if [ -n "$db" ]; then
    (cd "$repo" && go run scripts/pgdb.go createdb "$u/postgres" "$db") || die "could not create database $db"
    echo "$u/$db"
  else
    echo "$u/postgres"
  fi
}

stop() {
  pick_user
  choose_dirs
  if [ ! -f "$data/PG_VERSION" ]; then
    log "no cluster in $data"
    return 0
  fi
  bindir=$(pgbin "$(cat "$data/PG_VERSION")") || die "no PostgreSQL binaries for $data"
  if running; then
    as_pg "$bindir/pg_ctl" stop -D "$data" -m fast -w >/dev/null
    log "stopped"
  else
    log "not running"
  fi
}

status() {
  pick_user
  choose_dirs
  if [ -f "$data/PG_VERSION" ] && bindir=$(pgbin "$(cat "$data/PG_VERSION")" 2>/dev/null) && running; then
    log "running on 127.0.0.1:$(server_port) (data $data)"
  else
    log "not running"
    return 3
  fi
}

case "${1:-}" in
  url) url "${2:-}" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: scripts/pg.sh url [DBNAME] | start | stop | status" ;;
esac
