#!/usr/bin/env bash
# make run / make migrate: run bin/ctms against a development database.
#
#   scripts/run.sh          migrate, make sure the API client id_dev exists, then serve on :8000
#   scripts/run.sh migrate  only migrate
#
# Without CTMS_DB_URL (or CTMS_DB_URL_FILE) it uses database `ctms` on the private server of
# scripts/pg.sh. Without CTMS_SECRET_KEY (or CTMS_SECRET_KEY_FILE) it uses a random key made
# once and kept in .data/secret_key; likewise CTMS_DELETION_HASH_KEY, in .data/deletion_hash_key.
# The credentials of id_dev, printed when it is created, are kept in .data/dev_client.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ctms=bin/ctms
[ -x "$ctms" ] || { echo "run.sh: $ctms is missing: run make build" >&2; exit 1; }
mkdir -p .data

if [ -z "${CTMS_DB_URL:-}" ] && [ -z "${CTMS_DB_URL_FILE:-}" ]; then
  CTMS_DB_URL=$(scripts/pg.sh url ctms)
  export CTMS_DB_URL
fi
if [ -z "${CTMS_SECRET_KEY:-}" ] && [ -z "${CTMS_SECRET_KEY_FILE:-}" ]; then
  if [ ! -s .data/secret_key ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >.data/secret_key)
  fi
  CTMS_SECRET_KEY=$(cat .data/secret_key)
  export CTMS_SECRET_KEY
fi
if [ -z "${CTMS_DELETION_HASH_KEY:-}" ] && [ -z "${CTMS_DELETION_HASH_KEY_FILE:-}" ]; then
  if [ ! -s .data/deletion_hash_key ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >.data/deletion_hash_key)
  fi
  CTMS_DELETION_HASH_KEY=$(cat .data/deletion_hash_key)
  export CTMS_DELETION_HASH_KEY
fi

"$ctms" migrate
[ "${1:-}" != migrate ] || exit 0

# The development client: created once per database with the admin role; its secret is only
# known when created.
client_file=.data/dev_client
stamp="# database: ${CTMS_DB_URL:-file $CTMS_DB_URL_FILE}"
set +e
"$ctms" clients show id_dev >/dev/null 2>&1
found=$?
set -e
case $found in
  0)
    if [ -s "$client_file" ] && [ "$(head -n 1 "$client_file")" = "$stamp" ]; then
      echo "Development API client (kept in $client_file):"
      tail -n +2 "$client_file"
    else
      echo "API client id_dev exists but its secret is not in $client_file;" \
        "get a new one with: $ctms clients rotate-secret id_dev"
    fi
    ;;
  4)
    created=$("$ctms" clients create id_dev dev@example.com)
    (umask 077 && printf '%s\n%s\n' "$stamp" "$created" >"$client_file")
    printf '%s\n' "$created"
    # Every permission (the admin role is seeded by the migrations).
    "$ctms" clients grant id_dev admin || echo "run.sh: could not grant role admin to id_dev" >&2
    ;;
  *)
    "$ctms" clients show id_dev # shows the error
    exit 1
    ;;
esac

exec "$ctms" serve
