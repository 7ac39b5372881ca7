#!/usr/bin/env bash
# Failover drill (`make ha-test`): CTMS on a highly available PostgreSQL, for real, on loopback.
#
#   1. installs Debian's postgresql-15-auto-failover when pg_autoctl is missing (root only);
#   2. starts a pg_auto_failover formation in .data/ha: a monitor and two nodes with
#      synchronous replication, each under `pg_autoctl run`, as the `postgres` user when
#      run as root (trust authentication on 127.0.0.1, no TLS: a throwaway test set-up);
#   3. migrates the ctms database through a multi-host URL, creates an admin API client;
#   4. starts two `ctms serve` instances on the multi-host URL
#      (target_session_attrs=read-write); instance B also has CTMS_DB_READ_URL
#      (target_session_attrs=prefer-standby) and recycles its connections every 10 s so
#      that its read pool follows the standby after the switch;
#   5. runs cmd/ctms-hatest: write load on both instances, `pg_autoctl perform failover`
#      during the load, every acknowledged write checked on the new primary, /updates via
#      the standby compared with /updates via the primary. It prints the figures and fails
#      on a lost write, a 500 or a hung request.
#
# Everything is stopped and removed on exit (CTMS_HA_KEEP=1 keeps the data and logs).
# Settings: CTMS_HA_WORKERS (8), CTMS_HA_WARMUP (5s), CTMS_HA_AFTER (15s).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
log() { printf 'ha-test: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# --- 1. pg_auto_failover --------------------------------------------------------------
find_major() { # the PostgreSQL major version that has the pgautofailover extension
  local so
  for so in $(printf '%s\n' /usr/lib/postgresql/*/lib/pgautofailover.so | sort -t/ -k5 -n -r); do
    [ -e "$so" ] || continue
    local v=${so#/usr/lib/postgresql/}
    v=${v%%/*}
    "$repo/scripts/pgbin.sh" "$v" >/dev/null 2>&1 && { echo "$v"; return 0; }
  done
  return 1
}
if ! command -v pg_autoctl >/dev/null || ! find_major >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "pg_autoctl is missing: install Debian's postgresql-15-auto-failover (as root) and run again"
  log "installing postgresql-15-auto-failover from apt (once)…"
  # The package pulls in the server: it must not create and start a cluster of its own.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -e /etc/postgresql-common/createcluster.d/ctms-no-main-cluster.conf ] ||
    echo "create_main_cluster = off" >/etc/postgresql-common/createcluster.d/ctms-no-main-cluster.conf
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    postgresql-15-auto-failover >&2 || die "apt-get install postgresql-15-auto-failover failed"
fi
major=$(find_major) || die "no pgautofailover extension under /usr/lib/postgresql/*/lib"
pgbin=$("$repo/scripts/pgbin.sh" "$major")

# The servers cannot run as root: as root they run as `postgres` (created by the package).
pg_user=""
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "the postgres user is missing (it comes with the postgresql-common package)"
  pg_user=postgres
fi

# --- working directory ----------------------------------------------------------------
base="$repo/.data"
mkdir -p "$base"
if [ -n "$pg_user" ] && ! runuser -u "$pg_user" -- test -x "$base" 2>/dev/null; then
  base="/var/tmp/ctms-ha-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)"
  mkdir -p "$base"
fi
ha="$base/ha"
if [ -e "$ha" ]; then
  # A previous run that was killed: stop what it left (its pidfiles) before starting afresh.
  for d in node2 node1 monitor; do
    [ -f "$ha/$d/postmaster.pid" ] || continue
    if [ -n "$pg_user" ]; then
      (cd / && runuser -u "$pg_user" -- "$pgbin/pg_ctl" stop -D "$ha/$d" -m immediate -w >/dev/null 2>&1) || true
    else
      "$pgbin/pg_ctl" stop -D "$ha/$d" -m immediate -w >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$ha"
fi
mkdir -p "$ha/logs" "$ha/xdg"
[ -z "$pg_user" ] || chown -R "$pg_user:" "$ha"

# as_pg CMD…: runs a program as the servers' account, with pg_autoctl's state and
# configuration kept under $ha (not in that account's home).
pgenv=(env -C "$ha" "PATH=$pgbin:/usr/bin:/bin" "XDG_CONFIG_HOME=$ha/xdg/config" "XDG_DATA_HOME=$ha/xdg/data"
  "XDG_RUNTIME_DIR=$ha/xdg/run" "PG_CONFIG=$pgbin/pg_config")
as_pg() {
  if [ -n "$pg_user" ]; then
    (cd "$ha" && runuser -u "$pg_user" -- "${pgenv[@]}" "$@")
  else
    (cd "$ha" && "${pgenv[@]}" "$@")
  fi
}

# --- cleanup ------------------------------------------------------------------------
declare -A bgpid=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for s in hatest serve_b serve_a; do
    [ -n "${bgpid[$s]:-}" ] && kill -TERM "${bgpid[$s]}" 2>/dev/null
  done
  for s in hatest serve_b serve_a; do
    [ -n "${bgpid[$s]:-}" ] && wait "${bgpid[$s]}" 2>/dev/null
  done
  for d in node2 node1 monitor; do
    [ -n "${bgpid[$d]:-}" ] || continue
    as_pg timeout 60 pg_autoctl stop --pgdata "$ha/$d" --fast >/dev/null 2>&1
  done
  for d in node2 node1 monitor; do
    [ -n "${bgpid[$d]:-}" ] || continue
    local i
    for i in $(seq 1 60); do kill -0 "${bgpid[$d]}" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "${bgpid[$d]}" 2>/dev/null; then
      log "pg_autoctl ($d) did not stop: killing it"
      kill -KILL "${bgpid[$d]}" 2>/dev/null
    fi
    wait "${bgpid[$d]}" 2>/dev/null
  done
  for d in node2 node1 monitor; do # postgres left behind by a killed pg_autoctl
    [ -f "$ha/$d/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" stop -D "$ha/$d" -m immediate -w >/dev/null 2>&1
  done
  if [ "$rc" -ne 0 ]; then
    for f in "$ha"/logs/*.log; do
      [ -s "$f" ] || continue
      printf -- '--- %s (last lines)\n' "$f" >&2
      tail -n 8 "$f" | cut -c1-400 >&2
    done
  fi
  if [ "${CTMS_HA_KEEP:-0}" = 1 ]; then
    log "kept $ha (CTMS_HA_KEEP=1)"
  else
    rm -rf "$ha"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports ---------------------------------------------------------------------------
taken=" "
pick_port() { # pick_port VAR: a free loopback port, not handed out before
  local p
  while :; do
    # Below Linux's ephemeral ports (32768 on): a server restarted during the drill binds
    # its port again, and an outgoing connection may hold an ephemeral one meanwhile.
    p=$((20000 + RANDOM % 12000))
    [[ $taken == *" $p "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    taken+="$p "
    printf -v "$1" '%s' "$p"
    return 0
  done
}
mon_port="" p1="" p2="" port_a="" port_b="" # assigned by pick_port
pick_port mon_port; pick_port p1; pick_port p2; pick_port port_a; pick_port port_b
monitor_url="postgres://autoctl_node@127.0.0.1:$mon_port/pg_auto_failover?sslmode=disable"
hosts="127.0.0.1:$p1,127.0.0.1:$p2"
db_url="postgresql://postgres@$hosts/ctms?target_session_attrs=read-write&connect_timeout=2&sslmode=disable"
read_url="postgresql://postgres@$hosts/ctms?target_session_attrs=prefer-standby&connect_timeout=2&sslmode=disable"
standby_url="postgresql://postgres@$hosts/ctms?target_session_attrs=standby&connect_timeout=2&sslmode=disable"

# --- build -----------------------------------------------------------------------------
log "building ctms and ctms-hatest"
(cd "$repo" && "$GO" build -o "$ha/bin/ctms" ./cmd/ctms && "$GO" build -o "$ha/bin/ctms-hatest" ./cmd/ctms-hatest) ||
  die "go build failed"

# --- 2. the formation ------------------------------------------------------------------
# run_keeper NAME: `pg_autoctl run` for $ha/NAME in the background.
run_keeper() {
  if [ -n "$pg_user" ]; then
    (cd "$ha" && exec runuser -u "$pg_user" -- "${pgenv[@]}" pg_autoctl run --pgdata "$ha/$1") \
      >"$ha/logs/$1.log" 2>&1 </dev/null &
  else
    (cd "$ha" && exec "${pgenv[@]}" pg_autoctl run --pgdata "$ha/$1") >"$ha/logs/$1.log" 2>&1 </dev/null &
  fi
  bgpid[$1]=$!
}
# Lean test servers: pg_auto_failover sizes shared_buffers from the machine's memory.
tune() { as_pg sh -c "printf '\n# scripts/ha-test.sh\nshared_buffers = 128MB\nmax_connections = 200\n' >>'$ha/$1/postgresql.conf'"; }

states() { # "reported/assigned" of every node, in node order
  "$pgbin/psql" "$monitor_url" -Atqc \
    "SELECT string_agg(reportedstate || '/' || goalstate, ' ' ORDER BY nodeid) FROM pgautofailover.node" 2>/dev/null
}
wait_states() { # wait_states SECONDS PATTERN…: until the node states match one of the patterns
  local secs=$1 s i p
  shift
  for i in $(seq 1 $((secs * 2))); do
    s=$(states || true)
    for p in "$@"; do
      # shellcheck disable=SC2053
      [[ $s == $p ]] && return 0
    done
    sleep 0.5
  done
  die "formation not ready after ${secs}s: node states '${s:-?}' (wanted $*)"
}

t0=$(date +%s)
log "monitor on 127.0.0.1:$mon_port"
as_pg timeout 120 pg_autoctl create monitor --pgdata "$ha/monitor" --pgport "$mon_port" --hostname 127.0.0.1 \
  --skip-pg-hba --no-ssl --pgctl "$pgbin/pg_ctl" >"$ha/logs/create-monitor.log" 2>&1 ||
  die "pg_autoctl create monitor failed (see $ha/logs/create-monitor.log)"
as_pg pg_autoctl config set --pgdata "$ha/monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
tune monitor
run_keeper monitor
for i in $(seq 1 60); do "$pgbin/psql" "$monitor_url" -Atqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done

create_node() { # create_node NAME PORT
  as_pg timeout 300 pg_autoctl create postgres --pgdata "$ha/$1" --pgport "$2" --listen 127.0.0.1 \
    --hostname 127.0.0.1 --name "$1" --dbname ctms --monitor "$monitor_url" \
    --skip-pg-hba --no-ssl --ssl-mode disable --pgctl "$pgbin/pg_ctl" >"$ha/logs/create-$1.log" 2>&1 ||
    die "pg_autoctl create postgres $1 failed (see $ha/logs/create-$1.log)"
}
log "node1 on 127.0.0.1:$p1"
create_node node1 "$p1"
tune node1 # node2 inherits it through its base backup
run_keeper node1
wait_states 60 'single/single'
log "node2 on 127.0.0.1:$p2 (base backup from node1)"
create_node node2 "$p2"
run_keeper node2
wait_states 120 'primary/primary secondary/secondary'
sync=$("$pgbin/psql" "postgresql://postgres@127.0.0.1:$p1/ctms" -Atqc 'SHOW synchronous_standby_names')
log "formation ready after $(($(date +%s) - t0))s: node1 primary, node2 secondary, synchronous_standby_names = $sync"
[ -n "$sync" ] || die "replication is not synchronous"

# --- 3. schema and API client -------------------------------------------------------------
secret_key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CTMS_SECRET_KEY=$secret_key
CTMS_DB_URL=$db_url CTMS_DELETION_HASH_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') "$ha/bin/ctms" migrate >"$ha/logs/migrate.log" 2>&1 || die "ctms migrate failed (see $ha/logs/migrate.log)"
created=$(CTMS_DB_URL=$db_url "$ha/bin/ctms" clients create id_hatest hatest@example.com) || die "ctms clients create failed"
client_secret=$(printf '%s\n' "$created" | sed -n 's/^ *- Client Secret: //p')
[ -n "$client_secret" ] || die "no secret in the output of ctms clients create"
CTMS_DB_URL=$db_url "$ha/bin/ctms" clients grant id_hatest admin >/dev/null || die "ctms clients grant failed"

# --- 4. two service instances ---------------------------------------------------------------
serve() { # serve NAME PORT [VAR=VALUE…]
  local name=$1 port=$2
  shift 2
  env HOST=127.0.0.1 PORT="$port" CTMS_DB_URL="$db_url" CTMS_USE_MOZLOG=false CTMS_LOGGING_LEVEL=WARNING \
    SENTRY_DSN= "$@" "$ha/bin/ctms" serve >"$ha/logs/$name.log" 2>&1 </dev/null &
  bgpid[$name]=$!
}
serve serve_a "$port_a"
serve serve_b "$port_b" CTMS_DB_READ_URL="$read_url" CTMS_DB_POOL_RECYCLE_IN_SECONDS=10
for name in serve_a serve_b; do
  port=$port_a
  [ "$name" = serve_b ] && port=$port_b
  for i in $(seq 1 300); do # 30 s
    kill -0 "${bgpid[$name]}" 2>/dev/null || die "ctms serve ($name) exited (see $ha/logs/$name.log)"
    # (the binary's own healthcheck: curl may be missing)
    "$ha/bin/ctms" healthcheck --url "http://127.0.0.1:$port/__lbheartbeat__" >/dev/null 2>&1 && break
    [ "$i" -lt 300 ] || die "ctms serve ($name) did not answer within 30 s"
    sleep 0.1
  done
done
log "ctms serve A on 127.0.0.1:$port_a, B on 127.0.0.1:$port_b (reads on the standby)"

# --- 5. load, failover, checks --------------------------------------------------------------
# (pg_autoctl 2.0's perform failover logs a harmless "invalid input syntax for type integer"
# while it sets up its table of state changes.)
failover=(timeout 150 "${pgenv[@]}" pg_autoctl perform failover --pgdata "$ha/monitor" --formation default --group 0 --wait 120)
[ -z "$pg_user" ] || failover=(runuser -u "$pg_user" -- "${failover[@]}")
# In the background and waited for, so that a signal to this script stops it at once.
timeout 300 "$ha/bin/ctms-hatest" -a "http://127.0.0.1:$port_a" -b "http://127.0.0.1:$port_b" \
  -client-id id_hatest -client-secret "$client_secret" -db-url "$db_url" -standby-url "$standby_url" \
  -workers "${CTMS_HA_WORKERS:-8}" -warmup "${CTMS_HA_WARMUP:-5s}" -after "${CTMS_HA_AFTER:-15s}" \
  -- "${failover[@]}" &
bgpid[hatest]=$!
wait "${bgpid[hatest]}"
