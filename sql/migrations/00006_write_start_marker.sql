-- A marker of in-flight contact writes that every role can see, for the
-- /updates and /deletions guard (OldestWriteStart in sql/queries/platform.sql).
--
-- A contact's update_timestamp (and a deletion tombstone's deleted_at,
-- 00005_deletion_tombstones.sql) is its transaction's start (now()), so a write
-- that commits late lands behind rows a /updates consumer may already have
-- paged past. The guard stops the feed's default `end` at the start of the
-- oldest such transaction. pg_stat_activity.xact_start would tell it, but
-- PostgreSQL hides it from roles that are neither superuser nor members of
-- pg_read_all_stats, for other roles' sessions. pg_locks is not hidden: from
-- its first write to emails until it ends, a transaction (of any writer: CTMS,
-- the CLI, psql, the Python CTMS) holds a shared advisory lock whose key
-- encodes its start.
--
-- Key (bigint form; pg_locks shows classid = high 32 bits, objid = low 32 bits,
-- objsubid = 1): the tag 0x4354 ('CT') in the top 16 bits, then the
-- transaction's start in whole milliseconds since 2000-01-01 UTC (rounded
-- down, so the guard errs early). Shared locks never wait for one another.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only pg_catalog functions: whatever the writer's search_path.
    PERFORM pg_advisory_xact_lock_shared(
        (17236::bigint << 48) -- the tag 0x4354
        | floor(extract(epoch FROM now() - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Every writer runs it (the default, made explicit for databases that revoke it).
GRANT EXECUTE ON FUNCTION ctms_mark_write_start() TO PUBLIC;

CREATE TRIGGER emails_mark_write_start
    BEFORE INSERT OR UPDATE OR DELETE ON emails
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_mark_write_start();

-- +goose Down
DROP TRIGGER emails_mark_write_start ON emails;
DROP FUNCTION ctms_mark_write_start();
