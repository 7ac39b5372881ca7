-- A leader of `ctms sync` cut off from PostgreSQL abandons its request to Braze when its
-- lease runs out (internal/brazesync/fence.go), but a request Braze had already received may
-- still be applied after the new leader's pushes. So the leader writes the ids of each
-- request to Braze here, on its session, just before sending it; a new leader schedules a
-- repair of those contacts: a push of every attribute, or the deletion again, once anything
-- late has landed.

-- +goose Up
CREATE TABLE braze_sync_in_flight (
    singleton boolean     NOT NULL DEFAULT true,
    email_ids uuid[]      NOT NULL, -- of the latest request to /users/track or /users/delete
    sent_at   timestamptz NOT NULL,
    CONSTRAINT braze_sync_in_flight_pkey PRIMARY KEY (singleton),
    CONSTRAINT braze_sync_in_flight_singleton CHECK (singleton)
);
ALTER TABLE braze_sync_contacts ADD COLUMN repair_at timestamptz; -- a repair due then
CREATE INDEX braze_sync_contacts_repair ON braze_sync_contacts (repair_at)
    WHERE repair_at IS NOT NULL;

-- +goose Down
-- Repairs still scheduled, and the one an unanswered request calls for, are queued at once
-- (as BrazeRepairSchedule and BrazeRepairDue in sql/queries/braze_sync.sql do), so that none
-- is lost and no row is left that nothing would ever forget.
INSERT INTO braze_sync_contacts (email_id, repair_at)
SELECT DISTINCT unnest(email_ids), now() FROM braze_sync_in_flight
ON CONFLICT (email_id) DO UPDATE SET repair_at = excluded.repair_at;
UPDATE braze_sync_contacts AS s SET
  repair_at = NULL, pending = true,
  pending_since = coalesce(CASE WHEN s.pending THEN s.pending_since END, now()),
  seq = s.seq + 1, full_push = true,
  delete_pending = s.delete_pending OR NOT EXISTS (SELECT 1 FROM emails e WHERE e.email_id = s.email_id),
  retries = CASE WHEN s.dead THEN s.retries ELSE 0 END, next_attempt_at = NULL,
  last_error = CASE WHEN s.dead THEN s.last_error END, aliases_pushed = NULL
WHERE s.repair_at IS NOT NULL;
DROP INDEX braze_sync_contacts_repair;
ALTER TABLE braze_sync_contacts DROP COLUMN repair_at;
DROP TABLE braze_sync_in_flight;
