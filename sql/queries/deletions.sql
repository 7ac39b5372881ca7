-- name: DeletionsFirstPage :many
-- First page of the deletion feed: keyset order on the primary key.
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

-- name: DeletionsPurge :execrows
-- Retention: removes the tombstones of deletions before the cutoff.
DELETE FROM deletion_tombstones WHERE deleted_at < @before_ts;
