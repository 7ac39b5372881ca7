#!/usr/bin/env bash
# make e2e: the API documentation pages in a real browser, served by the binary the Dockerfile
# builds.
#
#  1. bin/ctms (built by `make e2e` with CGO_ENABLED=0, as in the Dockerfile) must be statically
#     linked and stamped with the current commit.
#  2. The database is prepared as `make run` does (scripts/run.sh migrate: CTMS_DB_URL, else the
#     database `ctms` of the private server of scripts/pg.sh), then scripts/run.sh serves on a
#     free loopback port (HOST=127.0.0.1, PORT=<free>), logging to .data/e2e-server.log.
#  3. `bin/ctms healthcheck` (the container's HEALTHCHECK) must pass against it.
#  4. tools/contract/docs-e2e.mjs loads /docs and /redoc in Debian's headless Chromium
#     (installed with apt-get when missing, which needs root): every operation of
#     api/openapi.yaml must be listed, and no request may go to another host.
#
# The server is stopped on exit. Every step is bounded in time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'e2e.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

ctms=bin/ctms
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$ctms" ] || die "$ctms is missing: run make e2e"
[ -d tools/contract/node_modules/playwright-core ] || die "the npm tools are missing: run make e2e"

# 1. The binary: static and stamped.
if command -v ldd >/dev/null; then
  linkage=$(ldd "$ctms" 2>&1 || true)
  case $linkage in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *) die "$ctms is not statically linked (ldd: $linkage)" ;;
  esac
fi
if command -v file >/dev/null; then
  file -L "$ctms" | grep -q "statically linked" || die "$ctms is not statically linked ($(file -L "$ctms"))"
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo HEAD)
go version -m "$ctms" | grep -q -- "internal/version.Commit=$commit" ||
  die "$ctms is not stamped with commit $commit (go version -m: $(go version -m "$ctms" | grep -- -ldflags || true))"
log "$ctms is statically linked and stamped with commit $commit"

# 2. Chromium, from Debian's packages.
if [ ! -x "$chromium" ]; then
  [ "$(id -u)" -eq 0 ] ||
    die "Chromium is missing ($chromium). Install Debian's package (sudo apt-get install chromium) or run make e2e as root, which installs it."
  log "installing Debian's chromium (once)…"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 chromium >&2 ||
    die "apt-get install chromium failed"
  [ -x "$chromium" ] || die "no $chromium after installing chromium"
fi
log "$("$chromium" --version 2>/dev/null || echo "$chromium")"

# 3. The database and the server, as make run does.
mkdir -p .data
timeout 900 scripts/run.sh migrate >&2 || die "preparing the database failed (scripts/run.sh migrate)"

port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 12000)) # below Linux's ephemeral ports (32768 on): no outgoing connection holds it
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    port=$p
    break
  fi
done
[ -n "$port" ] || die "no free loopback port found"
base="http://127.0.0.1:$port"

server_log=.data/e2e-server.log
HOST=127.0.0.1 PORT=$port scripts/run.sh >"$server_log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$server" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$server" 2>/dev/null || true
  fi
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

log "starting the server on $base (log: $server_log)"
ready=""
for _ in $(seq 1 120); do # 60 s
  kill -0 "$server" 2>/dev/null || {
    tail -n 30 "$server_log" >&2
    die "the server exited"
  }
  if "$ctms" healthcheck --url "$base/__lbheartbeat__" --timeout 1s >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
[ -n "$ready" ] || {
  tail -n 30 "$server_log" >&2
  die "the server did not answer on $base/__lbheartbeat__ within 60 s"
}
# The container's HEALTHCHECK runs `ctms healthcheck` without flags: it finds the server from
# HOST and PORT.
HOST=127.0.0.1 PORT=$port "$ctms" healthcheck || die "ctms healthcheck failed"

# 4. The docs pages in Chromium.
CHROMIUM=$chromium timeout 300 node tools/contract/docs-e2e.mjs "$base" api/openapi.yaml ||
  die "the docs pages check failed (server log: $server_log)"
