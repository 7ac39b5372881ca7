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
DROP INDEX braze_sync_contacts_repair;
ALTER TABLE braze_sync_contacts DROP COLUMN repair_at;
DROP TABLE braze_sync_in_flight;
