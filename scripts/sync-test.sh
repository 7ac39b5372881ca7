#!/usr/bin/env bash
# Braze sync drill (`make sync-test`) and lag benchmark (`make sync-bench`): builds bin/ctms,
# bin/ctms-brazefake and bin/ctms-synctest, finds the PostgreSQL server binaries
# (scripts/pgbin.sh, which installs them when missing, as root), and runs cmd/ctms-synctest,
# which starts a PostgreSQL of its own, `ctms serve`, two `ctms sync` replicas and
# ctms-brazefake on free loopback ports (see its package comment for the phases and checks).
#
#   scripts/sync-test.sh [drill|bench] [ctms-synctest flags…]
#
# CTMS_SYNC_KEEP=1 keeps the drill's directory (logs, database) after the run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
mode=${1:-drill}
shift || true
log() { printf 'sync-test: %s\n' "$*" >&2; }

pgbin=$("$repo/scripts/pgbin.sh")
log "building ctms, ctms-brazefake and ctms-synctest"
(cd "$repo" && "$GO" build -o bin/ctms ./cmd/ctms && "$GO" build -o bin/ctms-brazefake ./cmd/ctms-brazefake &&
  "$GO" build -o bin/ctms-synctest ./cmd/ctms-synctest)
keep=()
[ "${CTMS_SYNC_KEEP:-0}" = 1 ] && keep=(-keep)
cd "$repo"
exec bin/ctms-synctest -ctms bin/ctms -brazefake bin/ctms-brazefake -pgbin "$pgbin" -mode "$mode" "${keep[@]}" "$@"
