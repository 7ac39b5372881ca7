-- `ctms sync` (internal/brazesync): its feeds, queue, per-contact state and mapping.

-- name: BrazeCursorGet :many
-- The position of one feed (no row: from the beginning).
SELECT position_ts, position_id FROM braze_sync_cursor WHERE feed = @feed;

-- name: BrazeCursorSet :exec
INSERT INTO braze_sync_cursor (feed, position_ts, position_id, moved_at)
VALUES (@feed, @position_ts, @position_id, now())
ON CONFLICT (feed) DO UPDATE SET position_ts = excluded.position_ts,
  position_id = excluded.position_id, moved_at = excluded.moved_at;

-- name: BrazeCursors :many
SELECT feed, position_ts, position_id, moved_at FROM braze_sync_cursor ORDER BY feed;

-- name: BrazeFeedUpdates :many
-- The contacts changed after the cursor and before end (the guard of /updates:
-- store.UpdatesEnd), in the keyset order of bulk_read_index.
SELECT email_id, update_timestamp FROM emails
WHERE (update_timestamp, email_id) > (@after_ts::timestamptz, @after_id::uuid)
  AND update_timestamp >= @after_ts::timestamptz AND update_timestamp < @end_ts
ORDER BY update_timestamp, email_id
LIMIT @max_rows;

-- name: BrazeFeedDeletions :many
-- The deletions after the cursor and before end, in the keyset order of /deletions.
SELECT email_id, deleted_at FROM deletion_tombstones
WHERE (deleted_at, email_id) > (@after_ts::timestamptz, @after_id::uuid)
  AND deleted_at >= @after_ts::timestamptz AND deleted_at < @end_ts
ORDER BY deleted_at, email_id
LIMIT @max_rows;

-- name: BrazeEnqueue :exec
-- Queues contacts (distinct ids) for a push, or for a deletion first when
-- deleted is set. A new change gives a parked contact a fresh start.
INSERT INTO braze_sync_contacts AS s (email_id, pending, pending_since, seq, delete_pending)
SELECT u.id, true, u.ts, 1, @deleted::boolean
FROM (SELECT unnest(@email_ids::uuid[]) AS id, unnest(@changed_at::timestamptz[]) AS ts) AS u
ON CONFLICT (email_id) DO UPDATE SET
  pending = true,
  pending_since = CASE WHEN s.pending THEN least(s.pending_since, excluded.pending_since) ELSE excluded.pending_since END,
  seq = s.seq + 1,
  delete_pending = s.delete_pending OR excluded.delete_pending,
  retries = 0, next_attempt_at = NULL, dead = false;

-- name: BrazeQueueBatch :many
-- The next contacts to push: oldest change first, those waiting out a retry delay left out.
SELECT email_id, seq, delete_pending, full_push, last_pushed, profile_created_at, aliases_pushed,
  retries, pending_since
FROM braze_sync_contacts
WHERE pending AND NOT dead AND (next_attempt_at IS NULL OR next_attempt_at <= @now)
ORDER BY pending_since, email_id
LIMIT @max_rows;

-- name: BrazeDeleteAcked :exec
-- Braze acknowledged the deletion of the profile: no profile, nothing pushed.
-- A deletion queued meanwhile (seq moved) stays due.
UPDATE braze_sync_contacts SET
  delete_pending = delete_pending AND seq <> @seq,
  last_pushed = NULL, last_pushed_at = @now, profile_created_at = NULL,
  aliases_pushed = NULL, aliases_due_at = NULL
WHERE email_id = @email_id;

-- name: BrazeSettled :exec
-- The contact's queued change is in Braze (pushed, deleted, or nothing to send):
-- done unless it was queued again meanwhile.
UPDATE braze_sync_contacts SET
  pending = seq <> @seq,
  pending_since = CASE WHEN seq = @seq THEN NULL ELSE pending_since END,
  full_push = full_push AND seq <> @seq,
  retries = 0, next_attempt_at = NULL, last_error = NULL
WHERE email_id = @email_id;

-- name: BrazeForget :execrows
-- The contact is gone and so is its profile: its row goes too, unless it was
-- queued again meanwhile or a repair is due (sql/migrations/00012_braze_sync_repair.sql).
DELETE FROM braze_sync_contacts
WHERE email_id = @email_id AND seq = @seq AND last_pushed IS NULL AND NOT delete_pending AND repair_at IS NULL;

-- name: BrazeTrackedBatch :exec
-- Braze acknowledged pushes of these states (parallel arrays): each is recorded
-- and its queued change settled unless it was queued again meanwhile (seq
-- moved). The aliases are due from due where has_due (else none to add). A full
-- push (resync, repair) may have created the profile again: it counts as the creation.
UPDATE braze_sync_contacts AS s SET
  last_pushed = u.state::jsonb, last_pushed_at = @now,
  profile_created_at = CASE WHEN u.full_push THEN @now ELSE coalesce(s.profile_created_at, @now) END,
  aliases_due_at = CASE WHEN u.has_due THEN u.due END,
  pending = s.seq <> u.seq,
  pending_since = CASE WHEN s.seq = u.seq THEN NULL ELSE s.pending_since END,
  full_push = s.full_push AND s.seq <> u.seq,
  retries = 0, next_attempt_at = NULL, last_error = NULL
FROM (SELECT unnest(@email_ids::uuid[]) AS id, unnest(@seqs::bigint[]) AS seq,
        unnest(@states::text[]) AS state, unnest(@full_pushes::boolean[]) AS full_push,
        unnest(@has_due::boolean[]) AS has_due, unnest(@due::timestamptz[]) AS due) AS u
WHERE s.email_id = u.id;

-- name: BrazeFailed :exec
-- A push of this contact failed: retried after next_attempt_at, parked at the retry limit.
UPDATE braze_sync_contacts SET
  retries = retries + 1, last_error = @last_error, next_attempt_at = @next_attempt_at,
  dead = retries + 1 >= @max_retries::integer
WHERE email_id = @email_id;

-- name: BrazeAliasesDue :many
SELECT email_id, aliases_pushed FROM braze_sync_contacts
WHERE aliases_due_at <= @now
ORDER BY aliases_due_at, email_id
LIMIT @max_rows;

-- name: BrazeAliasesAcked :exec
UPDATE braze_sync_contacts SET aliases_pushed = @aliases, aliases_due_at = NULL
WHERE email_id = @email_id;

-- name: BrazeAliasesRejected :exec
-- Braze rejected an alias of the contact: nothing due until its next push, the
-- reason kept.
UPDATE braze_sync_contacts SET aliases_due_at = NULL, last_error = @last_error
WHERE email_id = @email_id;

-- name: BrazeAliasesDrop :exec
-- The contact is gone (or has no alias to add): nothing due.
UPDATE braze_sync_contacts SET aliases_due_at = NULL WHERE email_id = @email_id;

-- name: BrazeStatus :one
-- backlog: contacts waiting for a push (parked ones aside); retrying: those of
-- them that failed before; oldest: the oldest change not pushed. Each on a
-- partial index: the table holds a row per contact ever pushed.
SELECT
  (SELECT count(*) FROM braze_sync_contacts WHERE pending AND NOT dead)::bigint AS backlog,
  (SELECT count(*) FROM braze_sync_contacts WHERE pending AND NOT dead AND retries > 0)::bigint AS retrying,
  (SELECT count(*) FROM braze_sync_contacts WHERE dead)::bigint AS dead,
  (SELECT min(pending_since) FROM braze_sync_contacts WHERE pending AND NOT dead) AS oldest,
  (SELECT count(*) FROM braze_sync_contacts WHERE repair_at IS NOT NULL)::bigint AS repairs;

-- name: BrazeDeadLetters :many
SELECT email_id, retries, last_error, last_pushed_at, pending_since
FROM braze_sync_contacts WHERE dead ORDER BY email_id LIMIT @max_rows;

-- name: BrazeRetryDead :execrows
-- Dead letters back into the queue with a fresh retry count.
UPDATE braze_sync_contacts SET dead = false, retries = 0, next_attempt_at = NULL,
  pending_since = coalesce(pending_since, now())
WHERE dead;

-- name: BrazeResync :execrows
-- Queues every contact changed since the given time (or of the given ids) for a
-- push of every attribute.
INSERT INTO braze_sync_contacts AS s (email_id, pending, pending_since, seq, full_push)
SELECT e.email_id, true, now(), 1, true FROM emails e
WHERE (sqlc.narg(email_ids)::uuid[] IS NULL OR e.email_id = ANY(sqlc.narg(email_ids)::uuid[]))
  AND (sqlc.narg(since)::timestamptz IS NULL OR e.update_timestamp >= sqlc.narg(since)::timestamptz)
ON CONFLICT (email_id) DO UPDATE SET
  pending = true, pending_since = coalesce(CASE WHEN s.pending THEN s.pending_since END, now()),
  seq = s.seq + 1, full_push = true, retries = 0, next_attempt_at = NULL, dead = false, last_error = NULL,
  aliases_pushed = NULL; -- added again after the push (a profile created again has none)

-- name: BrazeSample :many
-- A random sample of contacts, for `ctms sync verify`.
SELECT email_id FROM emails ORDER BY random() LIMIT @max_rows;

-- name: BrazeSyncStates :many
-- due: a push is due now or a repair later (Braze may still change).
SELECT email_id, (pending OR repair_at IS NOT NULL)::boolean AS due, last_pushed, aliases_pushed
FROM braze_sync_contacts WHERE email_id = ANY(@email_ids::uuid[]);

-- name: BrazeMappingList :many
SELECT newsletter, subscription_group_id, title, update_timestamp FROM braze_subscription_groups
ORDER BY newsletter;

-- name: BrazeMappingSet :exec
INSERT INTO braze_subscription_groups (newsletter, subscription_group_id, title, update_timestamp)
VALUES (@newsletter, @subscription_group_id, @title, now())
ON CONFLICT (newsletter) DO UPDATE SET subscription_group_id = excluded.subscription_group_id,
  title = excluded.title, update_timestamp = excluded.update_timestamp;

-- name: BrazeMappingDelete :execrows
DELETE FROM braze_subscription_groups WHERE newsletter = @newsletter;

-- name: BrazeInFlightSet :exec
-- The ids of the request the leader is about to send (sql/migrations/00012_braze_sync_repair.sql).
INSERT INTO braze_sync_in_flight (singleton, email_ids, sent_at) VALUES (true, @email_ids::uuid[], now())
ON CONFLICT (singleton) DO UPDATE SET email_ids = excluded.email_ids, sent_at = excluded.sent_at;

-- name: BrazeRepairSchedule :execrows
-- A new leader: the contacts of the previous leader's latest request get a repair at
-- due (a contact forgotten since gets a row back, for its deletion).
WITH f AS (DELETE FROM braze_sync_in_flight RETURNING email_ids)
INSERT INTO braze_sync_contacts AS s (email_id, repair_at)
SELECT DISTINCT unnest(f.email_ids), @due::timestamptz FROM f
ON CONFLICT (email_id) DO UPDATE SET repair_at = excluded.repair_at;

-- name: BrazeRepairDue :execrows
-- Repairs due: queued for a push of every attribute, or for the deletion again when
-- the contact is gone; the aliases are added again after the push.
UPDATE braze_sync_contacts AS s SET
  repair_at = NULL, pending = true,
  pending_since = coalesce(CASE WHEN s.pending THEN s.pending_since END, @now::timestamptz),
  seq = s.seq + 1, full_push = true,
  delete_pending = s.delete_pending OR NOT EXISTS (SELECT 1 FROM emails e WHERE e.email_id = s.email_id),
  -- a dead letter keeps its count and reason for `ctms sync status`
  retries = CASE WHEN s.dead THEN s.retries ELSE 0 END, next_attempt_at = NULL,
  last_error = CASE WHEN s.dead THEN s.last_error END, aliases_pushed = NULL
WHERE s.repair_at <= @now::timestamptz;

-- name: BrazeInFlightClear :exec
-- Braze answered the leader's latest request: nothing of it can land later.
DELETE FROM braze_sync_in_flight;

-- name: BrazeSyncTablesUnwritable :many
-- The syncer's tables it cannot write: missing (`ctms migrate` not run) or without
-- the privileges (deploy/postgres/roles.sql not run again after it).
SELECT t::text AS name FROM unnest(ARRAY['braze_sync_cursor', 'braze_sync_contacts', 'braze_sync_in_flight']::text[]) AS t
WHERE to_regclass(t) IS NULL
   OR NOT (has_table_privilege(to_regclass(t), 'SELECT') AND has_table_privilege(to_regclass(t), 'INSERT')
           AND has_table_privilege(to_regclass(t), 'UPDATE') AND has_table_privilege(to_regclass(t), 'DELETE'));
