-- name: ContactsEstimate :one
-- The planner's estimate of the emails table size (-1 before the first ANALYZE):
-- cheap enough for every heartbeat, unlike COUNT(*).
SELECT reltuples::bigint AS estimate FROM pg_catalog.pg_class WHERE relname = 'emails';

-- name: ContactsExist :one
SELECT EXISTS (SELECT 1 FROM emails) AS found;
