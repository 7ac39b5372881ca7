#!/usr/bin/env bash
# Installs what `make bench` needs besides Go: wrk (the HTTP load generator) and the
# PostgreSQL server binaries with pgbench (scripts/pgbin.sh finds or installs them).
# Debian packages only; installing needs root (apt-get, non-interactive).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-deps.sh: wrk is missing; install it (Debian: sudo apt-get install wrk)" >&2
    exit 1
  fi
  echo "bench-deps.sh: installing wrk from apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 wrk >&2
fi
"$repo/scripts/pgbin.sh" >/dev/null
