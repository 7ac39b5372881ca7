-- Deletion tombstones (not in the Python CTMS): every deleted contact leaves one row,
-- whoever deleted it (this API, `ctms delete-bulk`, psql, a Python CTMS sharing the
-- database), so downstream copies can follow deletions with GET /deletions. A row holds
-- no clear-text address: only SHA-256 hashes of the lower-cased addresses.
--
-- The Python CTMS (and this API) delete a contact's fxa row before its emails row (the
-- foreign keys have no ON DELETE action), so the FxA address is gone when the emails
-- trigger runs: the fxa trigger keeps its hash for the rest of the transaction in
-- deletion_fxa_pending, keyed by the transaction id, and a deferred trigger removes it
-- at commit. The API names who is deleting with the transaction-local setting
-- ctms.deleted_by (internal/store: DeleteByPrimaryEmail); other writers get 'database'
-- (API client ids start with id_).
--
-- Both trigger functions are SECURITY DEFINER: a role that may delete contacts needs no
-- privilege on these tables, so a Python CTMS sharing the database keeps working.
-- TRUNCATE fires no row trigger and leaves no tombstones.

-- +goose Up
CREATE TABLE deletion_tombstones (
    email_id                 uuid         NOT NULL,
    deleted_at               timestamptz  NOT NULL,
    primary_email_sha256     varchar(64)  NOT NULL,
    fxa_primary_email_sha256 varchar(64),
    deleted_by               varchar(255) NOT NULL,
    -- Keyset order of GET /deletions; also serves the retention purge (deleted_at < cutoff).
    CONSTRAINT deletion_tombstones_pkey PRIMARY KEY (deleted_at, email_id)
);

CREATE TABLE deletion_fxa_pending (
    email_id                 uuid        NOT NULL,
    xact_id                  bigint      NOT NULL,
    fxa_primary_email_sha256 varchar(64) NOT NULL,
    CONSTRAINT deletion_fxa_pending_pkey PRIMARY KEY (email_id, xact_id)
);

-- +goose StatementBegin
CREATE FUNCTION deletion_fxa_remember() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF OLD.primary_email IS NOT NULL THEN
        INSERT INTO deletion_fxa_pending (email_id, xact_id, fxa_primary_email_sha256)
        VALUES (OLD.email_id, txid_current(), encode(sha256(convert_to(lower(OLD.primary_email), 'UTF8')), 'hex'))
        ON CONFLICT (email_id, xact_id) DO UPDATE
            SET fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION deletion_fxa_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM deletion_fxa_pending WHERE email_id = NEW.email_id AND xact_id = NEW.xact_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    VALUES (
        OLD.email_id,
        now(), -- the deleting transaction's start, like update_timestamp
        encode(sha256(convert_to(lower(OLD.primary_email), 'UTF8')), 'hex'),
        (SELECT p.fxa_primary_email_sha256 FROM deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255))
    -- The same email_id deleted twice in one transaction (re-created in between): one row.
    ON CONFLICT (deleted_at, email_id) DO UPDATE SET
        primary_email_sha256 = excluded.primary_email_sha256,
        fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256,
        deleted_by = excluded.deleted_by;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deletion_fxa_remember AFTER DELETE ON fxa
    FOR EACH ROW EXECUTE FUNCTION deletion_fxa_remember();

CREATE CONSTRAINT TRIGGER deletion_fxa_forget AFTER INSERT ON deletion_fxa_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION deletion_fxa_forget();

CREATE TRIGGER deletion_tombstone_write AFTER DELETE ON emails
    FOR EACH ROW EXECUTE FUNCTION deletion_tombstone_write();

-- +goose Down
DROP TRIGGER deletion_tombstone_write ON emails;
DROP TRIGGER deletion_fxa_remember ON fxa;
DROP TABLE deletion_fxa_pending;
DROP TABLE deletion_tombstones;
DROP FUNCTION deletion_tombstone_write();
DROP FUNCTION deletion_fxa_forget();
DROP FUNCTION deletion_fxa_remember();
