#!/usr/bin/env bash
# The one place that finds the PostgreSQL server binaries.
#
#   scripts/pgbin.sh          print the directory holding initdb, pg_ctl, postgres and pgbench
#                             (Debian: /usr/lib/postgresql/<ver>/bin, the highest version),
#                             installing Debian's postgresql package when none is there
#   scripts/pgbin.sh MAJOR    the same for that major version only (never installs)
#
# $CTMS_PG_BINDIR, when set, is the answer (checked like the others; MAJOR is then ignored).
# Only the directory goes to stdout. Installing needs root (apt-get, non-interactive, without
# the package's own cluster on 5432); otherwise, and on any failure, it exits 1 with a message.
# Used by scripts/pg.sh, ops-test.sh, ha-test.sh and, through internal/testdb.PGBinDir, by the
# Go tests that run a PostgreSQL of their own.
set -euo pipefail

log() { printf 'pgbin.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

complete() { # complete DIR: every program we need is there
  local p
  for p in initdb pg_ctl postgres pgbench; do [ -x "$1/$p" ] || return 1; done
}

# find_bindir [MAJOR]: of that major version, or the highest installed.
find_bindir() {
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r); do
    complete "$d" || continue
    if [ -z "${1:-}" ] || [ "$d" = "/usr/lib/postgresql/$1/bin" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

install_server() {
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries (initdb, pg_ctl, postgres, pgbench) not found under /usr/lib/postgresql/*/bin.
  Install them (Debian: sudo apt-get install postgresql), set CTMS_PG_BINDIR, or run this as root to install them."
  # One install at a time (parallel test binaries may all ask); the winner's result serves all.
  exec 8>/tmp/ctms-pgbin.lock
  flock 8
  find_bindir >/dev/null && return 0
  log "installing PostgreSQL from apt (once)…"
  # Do not let the package create and start its own cluster on 5432: we run ours.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -e /etc/postgresql-common/createcluster.d/ctms-no-main-cluster.conf ] ||
    echo "create_main_cluster = off" >/etc/postgresql-common/createcluster.d/ctms-no-main-cluster.conf
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql >&2 ||
    die "apt-get install postgresql failed"
}

[ $# -le 1 ] || die "usage: scripts/pgbin.sh [MAJOR]"
major=${1:-}
[[ $major =~ ^[0-9]*$ ]] || die "MAJOR must be a number: $major"

if [ -n "${CTMS_PG_BINDIR:-}" ]; then
  complete "$CTMS_PG_BINDIR" || die "CTMS_PG_BINDIR=$CTMS_PG_BINDIR lacks initdb, pg_ctl, postgres or pgbench"
  (cd "$CTMS_PG_BINDIR" && pwd)
  exit 0
fi
if [ -n "$major" ]; then
  find_bindir "$major" || die "no PostgreSQL $major server binaries under /usr/lib/postgresql/$major/bin"
  exit 0
fi
find_bindir || { install_server && find_bindir; } || die "no PostgreSQL server binaries under /usr/lib/postgresql after install"
