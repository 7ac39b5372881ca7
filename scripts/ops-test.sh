#!/usr/bin/env bash
# make ops-test: the dashboards and rules of deploy/ against the metrics real instances expose,
# behind PgBouncer. Everything runs on 127.0.0.1 in a temporary directory and is stopped on exit.
#
#   1. a PostgreSQL of its own (initdb), the roles of deploy/postgres/roles.sql, `ctms migrate`
#      as ctms_migrate, roles.sql again (the grants on the tables);
#   2. PgBouncer 1.18 in transaction pooling mode in front of it;
#   3. `ctms clients` as ctms_admin, two `ctms serve` instances as ctms_app through PgBouncer, with
#      default_query_exec_mode=cache_describe in CTMS_DB_URL (docs/operations.md#pgbouncer);
#      then two `ctms sync` replicas as ctms_sync pushing to cmd/ctms-brazefake (a fake Braze);
#   4. Debian's prometheus with deploy/prometheus/ctms.rules.yml (CTMSDatabaseUnreachable's
#      `for:` shortened in a test copy), scraping both instances and both syncers every second;
#   5. cmd/ctms-opstest load: mixed traffic, no 5xx, and a /updates consumer that misses no
#      acknowledged write;
#   6. cmd/ctms-opstest check: every dashboard query, variable and recording rule evaluates with
#      data (failure-only panels may be empty), every alert rule is healthy;
#   7. stops PostgreSQL and waits for CTMSDatabaseUnreachable to be pending or firing.
#
# CTMS_OPS_KEEP=1 keeps the directory (logs) after the run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
log() { printf 'ops-test: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
began=$(date +%s)

"$repo/scripts/ops-deps.sh"
pgbin=$("$repo/scripts/pgbin.sh")
pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$pgbouncer" ] || die "pgbouncer missing"
[ -x "$repo/bin/ctms" ] || die "bin/ctms missing: run make build"

tmp=$(mktemp -d /tmp/ctms-ops.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp/logs"
# PostgreSQL and PgBouncer refuse to run as root: as root they run as `postgres`.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
exec_pg() { if [ "$(id -u)" -eq 0 ]; then exec runuser -u postgres -- "$@"; else exec "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "the postgres user is missing"
  chown postgres "$tmp" "$tmp/logs"
fi

pids=()
cleanup() {
  local rc=$?
  # PgBouncer runs under runuser: stop it by its own pid.
  if [ -s "$tmp/pgbouncer.pid" ]; then kill "$(cat "$tmp/pgbouncer.pid")" 2>/dev/null || true; fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ -f "$tmp/pg/postmaster.pid" ]; then (cd / && as_pg "$pgbin/pg_ctl" stop -D "$tmp/pg" -m immediate -w >/dev/null 2>&1) || true; fi
  if [ "$rc" -ne 0 ]; then
    for f in "$tmp"/logs/*; do [ -f "$f" ] && { log "--- tail of $f"; tail -n 15 "$f" >&2; }; done
  fi
  if [ "${CTMS_OPS_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  log "done in $(($(date +%s) - began)) s (exit $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a port from a random start that nothing listens on
  local p=$((20000 + RANDOM % 12000)) # below Linux's ephemeral ports (32768 on), which outgoing connections take
  for _ in $(seq 200); do port_in_use "$p" || { echo "$p"; return; }; p=$((p + 1)); done
  die "no free port"
}
wait_port() { # wait_port PORT NAME [PID]: up to 30 s, or until PID exits
  for _ in $(seq 300); do
    port_in_use "$1" && return 0
    [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || die "$2 exited"
    sleep 0.1
  done
  die "$2 did not listen on 127.0.0.1:$1"
}

# --- 1. PostgreSQL, roles, migrations ---------------------------------------------------
pg_port=$(free_port)
log "PostgreSQL on 127.0.0.1:$pg_port"
(cd / && as_pg "$pgbin/initdb" -D "$tmp/pg" -U postgres -A trust --no-sync >"$tmp/logs/initdb.log" 2>&1) || die "initdb failed"
(cd / && as_pg "$pgbin/pg_ctl" start -D "$tmp/pg" -w -l "$tmp/logs/postgres.log" \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp -c fsync=off -c shared_buffers=32MB -c max_connections=60" >/dev/null) ||
  die "PostgreSQL did not start"
psql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" "$@"; }
psql -U postgres -d postgres -c "CREATE DATABASE ctms" >/dev/null
psql -U postgres -d ctms -f "$repo/deploy/postgres/roles.sql" >/dev/null || die "deploy/postgres/roles.sql failed"
CTMS_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CTMS_SECRET_KEY
CTMS_DELETION_HASH_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
CTMS_DB_URL="postgresql://ctms_migrate@127.0.0.1:$pg_port/ctms?sslmode=disable" CTMS_DELETION_HASH_KEY=$CTMS_DELETION_HASH_KEY \
  "$repo/bin/ctms" migrate >"$tmp/logs/migrate.log" 2>&1 || die "ctms migrate as ctms_migrate failed"
psql -U postgres -d ctms -f "$repo/deploy/postgres/roles.sql" >/dev/null || die "deploy/postgres/roles.sql (after migrate) failed"

# --- 2. PgBouncer, transaction pooling ----------------------------------------------------
bouncer_port=$(free_port)
cat >"$tmp/pgbouncer.ini" <<INI
[databases]
ctms = host=127.0.0.1 port=$pg_port dbname=ctms
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $tmp/userlist.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
logfile = $tmp/logs/pgbouncer.log
pidfile = $tmp/pgbouncer.pid
INI
printf '"ctms_app" ""\n"ctms_admin" ""\n"ctms_migrate" ""\n"ctms_sync" ""\n' >"$tmp/userlist.txt"
chmod 644 "$tmp/pgbouncer.ini" "$tmp/userlist.txt"
(cd / && exec_pg "$pgbouncer" "$tmp/pgbouncer.ini" >/dev/null 2>&1) & pids+=($!)
wait_port "$bouncer_port" PgBouncer
log "PgBouncer (pool_mode=transaction) on 127.0.0.1:$bouncer_port"
app_url="postgresql://ctms_app@127.0.0.1:$bouncer_port/ctms?sslmode=disable&default_query_exec_mode=${CTMS_OPS_EXEC_MODE:-cache_describe}"
# LISTEN needs a session: the access change listener goes to PostgreSQL directly.
listen_url="postgresql://ctms_app@127.0.0.1:$pg_port/ctms?sslmode=disable"

# --- 3. the admin commands as ctms_admin, two instances as ctms_app through PgBouncer ------------
admin_url="postgresql://ctms_admin@127.0.0.1:$bouncer_port/ctms?sslmode=disable&default_query_exec_mode=${CTMS_OPS_EXEC_MODE:-cache_describe}"
created=$(CTMS_DB_URL=$admin_url "$repo/bin/ctms" clients create id_opstest opstest@example.com) || die "ctms clients create (as ctms_admin) failed"
client_secret=$(printf '%s\n' "$created" | sed -n 's/^ *- Client Secret: //p')
[ -n "$client_secret" ] || die "no secret in the output of ctms clients create"
CTMS_DB_URL=$admin_url "$repo/bin/ctms" clients grant id_opstest admin >/dev/null || die "ctms clients grant failed"
ports=()
for name in a b; do
  p=$(free_port)
  env HOST=127.0.0.1 PORT="$p" CTMS_DB_URL="$app_url" CTMS_DB_LISTEN_URL="$listen_url" CTMS_USE_MOZLOG=false CTMS_LOGGING_LEVEL=WARNING CTMS_SHUTDOWN_GRACE=2 \
    "$repo/bin/ctms" serve >"$tmp/logs/serve_$name.log" 2>&1 & pids+=($!)
  wait_port "$p" "ctms serve $name" "$!"
  ports+=("$p")
done
log "ctms serve on 127.0.0.1:${ports[0]} and 127.0.0.1:${ports[1]} (as ctms_app, through PgBouncer)"

# --- 3b. two `ctms sync` replicas as ctms_sync (state through PgBouncer, the leader lock on a
# session of its own) pushing to ctms-brazefake, so that the sync panels and rules have data -----
"$GO" build -o "$tmp/ctms-brazefake" "$repo/cmd/ctms-brazefake"
fake_port=$(free_port)
"$tmp/ctms-brazefake" -listen "127.0.0.1:$fake_port" -api-key opstest-braze-key >"$tmp/logs/brazefake.log" 2>&1 & pids+=($!)
wait_port "$fake_port" ctms-brazefake "$!"
CTMS_DB_URL=$admin_url "$repo/bin/ctms" sync mapping set opstest-newsletter 3b4c5d6e-0000-4000-8000-000000000001 >/dev/null ||
  die "ctms sync mapping set (as ctms_admin) failed"
sync_url="postgresql://ctms_sync@127.0.0.1:$bouncer_port/ctms?sslmode=disable&default_query_exec_mode=${CTMS_OPS_EXEC_MODE:-cache_describe}"
sync_ports=()
for name in a b; do
  p=$(free_port)
  env CTMS_DB_URL="$sync_url" CTMS_DB_LISTEN_URL="postgresql://ctms_sync@127.0.0.1:$pg_port/ctms?sslmode=disable" \
    CTMS_BRAZE_URL="http://127.0.0.1:$fake_port" CTMS_BRAZE_API_KEY=opstest-braze-key \
    CTMS_SYNC_METRICS_HOST=127.0.0.1 CTMS_SYNC_METRICS_PORT="$p" CTMS_USE_MOZLOG=false CTMS_LOGGING_LEVEL=WARNING \
    "$repo/bin/ctms" sync >"$tmp/logs/sync_$name.log" 2>&1 & pids+=($!)
  wait_port "$p" "ctms sync $name" "$!"
  sync_ports+=("$p")
done
log "ctms sync on 127.0.0.1:${sync_ports[0]} and 127.0.0.1:${sync_ports[1]} (as ctms_sync) to ctms-brazefake on 127.0.0.1:$fake_port"

# --- 4. Prometheus ----------------------------------------------------------------------------
prom_port=$(free_port)
sed '/alert: CTMSDatabaseUnreachable/,/for:/ s/for: .*/for: 5s/' "$repo/deploy/prometheus/ctms.rules.yml" >"$tmp/ctms.rules.yml"
grep -q 'for: 5s' "$tmp/ctms.rules.yml" || die "could not shorten CTMSDatabaseUnreachable's for:"
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [ctms.rules.yml]
scrape_configs:
  - job_name: ctms
    static_configs:
      - targets: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
  - job_name: ctms-sync
    static_configs:
      - targets: ["127.0.0.1:${sync_ports[0]}", "127.0.0.1:${sync_ports[1]}"]
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/logs/prometheus.log" 2>&1 & pids+=($!)
wait_port "$prom_port" prometheus "$!"
prom="http://127.0.0.1:$prom_port"
log "prometheus on $prom"

# --- 5. traffic --------------------------------------------------------------------------
"$GO" build -o "$tmp/ctms-opstest" "$repo/cmd/ctms-opstest"
log "mixed traffic on both instances (${CTMS_OPS_DURATION:-20s})"
"$tmp/ctms-opstest" load -a "http://127.0.0.1:${ports[0]}" -b "http://127.0.0.1:${ports[1]}" \
  -client-id id_opstest -client-secret "$client_secret" -duration "${CTMS_OPS_DURATION:-20s}" -workers 6 ||
  die "load failed"
if grep -Eiq 'prepared statement|bind message|protocol' "$tmp/logs/serve_a.log" "$tmp/logs/serve_b.log"; then
  die "PgBouncer errors in the instances' logs"
fi

# --- 6. every query of the dashboards and rules ----------------------------------------------
sleep 3 # two more scrapes and rule evaluations after the load
(cd "$repo" && "$tmp/ctms-opstest" check -prom "$prom" -dashboards deploy/grafana) || die "check failed"

# --- 7. the database goes away --------------------------------------------------------------
log "stopping PostgreSQL"
(cd / && as_pg "$pgbin/pg_ctl" stop -D "$tmp/pg" -m fast -w >/dev/null)
heartbeat() { # GET /__heartbeat__ on 127.0.0.1:$1 (bash only: curl may be missing)
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /__heartbeat__ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    timeout 5 cat <&3 >/dev/null) 2>/dev/null || true
}
( for _ in $(seq 300); do heartbeat "${ports[0]}"; heartbeat "${ports[1]}"; sleep 0.2; done ) & pids+=($!)
"$tmp/ctms-opstest" wait-alert -prom "$prom" -alert CTMSDatabaseUnreachable -timeout 60s || die "the database alert did not fire"
log "PASS"
