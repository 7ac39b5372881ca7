#!/usr/bin/env bash
# Prints the absolute directory holding initdb, pg_ctl, postgres and pgbench (the highest
# PostgreSQL version installed), installing Debian's postgresql package when missing
# (root only; scripts/pg.sh does the install). Only the directory goes to stdout.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && [ -x "$d/pgbench" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

find_bindir && exit 0
"$repo/scripts/pg.sh" bindir >/dev/null
find_bindir || { echo "pgbin.sh: no PostgreSQL binaries with pgbench under /usr/lib/postgresql/*/bin" >&2; exit 1; }
