-- name: ContactsEstimate :one
-- The planner's estimate of the emails table size (-1 before the first ANALYZE):
-- cheap enough for every heartbeat, unlike COUNT(*).
SELECT reltuples::bigint AS estimate FROM pg_catalog.pg_class WHERE relname = 'emails';

-- name: ContactsExist :one
SELECT EXISTS (SELECT 1 FROM emails) AS found;

-- name: OldestWriteStart :one
-- The start of the oldest transaction that may still commit contact changes:
-- one that has written (it holds a transaction id) or one of the service's own.
-- Contacts take their update_timestamp from their transaction's start, so
-- /updates stops its default `end` there: no later commit can land behind a
-- consumer's cursor. Now when none is in flight.
SELECT coalesce(min(xact_start), now())::timestamptz AS oldest
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND xact_start IS NOT NULL
  AND (backend_xid IS NOT NULL OR application_name = 'ctms');
