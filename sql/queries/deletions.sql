-- name: DeletionsFirstPage :many
-- First page of the deletion feed: keyset order on the primary key. The *_sha256 columns
-- hold HMAC-SHA256 since migration 8 (sql/migrations/00008_database_hardening.sql).
SELECT email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by
FROM deletion_tombstones
WHERE deleted_at >= @start_ts AND deleted_at < @end_ts
ORDER BY deleted_at, email_id
LIMIT @max_rows;

-- name: DeletionsNextPage :many
-- Next page after the cursor (deleted_at, email_id): a strict keyset, as /updates.
SELECT email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by
FROM deletion_tombstones
WHERE (deleted_at, email_id) > (@after_ts::timestamptz, @after_id::uuid)
  AND deleted_at < @end_ts
ORDER BY deleted_at, email_id
LIMIT @max_rows;

-- name: DeletionsPurge :one
-- Retention: removes the tombstones of deletions before the cutoff. Only the owner writes
-- tombstones: the SECURITY DEFINER function lets the CTMS service and admin roles
-- (members of ctms_trusted) purge (sql/migrations/00008_database_hardening.sql).
SELECT public.ctms_purge_deletion_tombstones(@before_ts::timestamptz)::bigint AS purged;

-- name: DeletionHashKeySet :one
-- Installs the key of the tombstones' HMACs (`ctms migrate`, as the owner); true when it
-- changed.
SELECT public.ctms_deletion_hash_key_set(@hash_key::bytea)::boolean AS changed;
