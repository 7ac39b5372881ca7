-- The state of `ctms sync`, which keeps a Braze workspace equal to CTMS
-- (internal/brazesync). Nothing here touches the contact tables: the service
-- reads the change feeds that /updates and /deletions read (emails by
-- (update_timestamp, email_id), deletion_tombstones by (deleted_at, email_id),
-- behind the guard of OldestWriteStart), so the API's write path is unchanged.

-- +goose Up
-- Where each feed has been read to: everything at or before the position has
-- been queued in braze_sync_contacts. No row: from the beginning (a backfill).
CREATE TABLE braze_sync_cursor (
    feed        varchar(20) NOT NULL, -- 'updates' or 'deletions'
    position_ts timestamptz NOT NULL,
    position_id uuid        NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT braze_sync_cursor_pkey PRIMARY KEY (feed)
);

-- The newsletter (or waitlist slug, <name>-waitlist) → Braze subscription group
-- mapping, as data (`ctms sync mapping`). The title names the newsletter's
-- events ("<title> - subscribe").
CREATE TABLE braze_subscription_groups (
    newsletter            varchar(255) NOT NULL,
    subscription_group_id uuid         NOT NULL,
    title                 varchar(255) NOT NULL,
    update_timestamp      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT braze_subscription_groups_pkey PRIMARY KEY (newsletter)
);

-- One row per contact the service has queued or pushed: what it last sent
-- (so it knows what changed), whether a push is due, and its failures.
-- No foreign key: the row outlives the contact until its deletion is pushed.
CREATE TABLE braze_sync_contacts (
    email_id           uuid        NOT NULL,
    pending            boolean     NOT NULL DEFAULT false, -- a push (or delete) is due
    pending_since      timestamptz,                        -- the oldest change not pushed yet
    seq                bigint      NOT NULL DEFAULT 0,     -- bumped by every queuing: an acknowledged push clears pending only if unchanged
    delete_pending     boolean     NOT NULL DEFAULT false, -- a deletion to push before any new state
    full_push          boolean     NOT NULL DEFAULT false, -- resync/repair: send every attribute
    last_pushed        jsonb,                              -- the state last acknowledged (internal/brazesync.State); NULL: no profile
    last_pushed_at     timestamptz,
    profile_created_at timestamptz,                        -- the first acknowledged push since the last deletion
    aliases_pushed     jsonb,                              -- label → name of the aliases acknowledged
    aliases_due_at     timestamptz,                        -- aliases to add from then on (CTMS_BRAZE_ALIAS_DELAY after creation)
    retries            integer     NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    last_error         text,                               -- never holds an address
    dead               boolean     NOT NULL DEFAULT false, -- parked past the retry limit (`ctms sync retry`)
    CONSTRAINT braze_sync_contacts_pkey PRIMARY KEY (email_id)
);
-- The queue, oldest change first.
CREATE INDEX braze_sync_contacts_queue ON braze_sync_contacts (pending_since, email_id)
    WHERE pending AND NOT dead;
CREATE INDEX braze_sync_contacts_aliases_due ON braze_sync_contacts (aliases_due_at)
    WHERE aliases_due_at IS NOT NULL;
CREATE INDEX braze_sync_contacts_dead ON braze_sync_contacts (email_id) WHERE dead;

-- +goose Down
DROP TABLE braze_sync_contacts;
DROP TABLE braze_subscription_groups;
DROP TABLE braze_sync_cursor;
