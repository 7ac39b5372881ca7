-- A transaction's write time: no late commit is lost by /updates or /deletions,
-- whoever writes and however the transaction starts.
--
-- 00006_write_start_marker.sql made every writer of emails hold an advisory lock
-- (the marker, visible to every role in pg_locks) from its first write, keyed by
-- its start (now()), and the guard (then OldestWriteStart, now FeedWriteMarkers in
-- sql/queries/platform.sql) ends the feeds' default window before the oldest marker. That covers a
-- transaction only from its first write: one that reads first and writes later
-- (BEGIN; SELECT ...; UPDATE emails ...; COMMIT, as the Python CTMS and psql
-- sessions do) stamps its rows with now(), its start, although a reader computing
-- its window end in between saw no marker, ended its window after that start, and
-- moved on. The rows then commit behind it, lost.
--
-- The fix: a transaction's write time is when it took the marker, not when it
-- began. public.ctms_write_time() takes the marker on its first call in a
-- transaction (its key: clock_timestamp() rounded down to the millisecond), then
-- reads clock_timestamp() again, once the lock is visible, and remembers that value
-- (in the transaction-local setting ctms.write_time, as ISO 8601 text in UTC to the
-- microsecond, which reads back the same whatever DateStyle and TimeZone) for the rest of
-- the transaction (a savepoint rolled back forgets both together, and the next
-- write takes a new one). A session that sets ctms.write_time itself opts out,
-- as one that writes update_timestamp by hand does. The rows a transaction writes carry that time:
-- - emails.update_timestamp: a BEFORE ROW trigger raises to the write time a time
--   the writer took from the clock before it: one from the transaction's start
--   (now(), as the Python CTMS and psql write it, DEFAULT now() included) up to the
--   write time, set by an INSERT or by an UPDATE that changed update_timestamp (one
--   that leaves it alone is not a change the feed shows, as before). A time before
--   the transaction began is the writer's deliberate choice (a backfill) and kept:
--   it was never a late commit, it is written behind the feed on purpose. The
--   trigger fires only for rows in that range (its WHEN compares with the setting:
--   no function call for a row already at the write time);
-- - deletion_tombstones.deleted_at: the same, BEFORE INSERT (the tombstone trigger
--   of 00005 writes now());
-- - the API's statements (sql/queries/contacts.sql) write the write time into
--   every timestamp they set, in every table of the contact, so one write keeps
--   one time (create_timestamp of a new row included), and the WHEN above never
--   fires for them. They read the setting inline and call ctms_write_time() only
--   when it is not there yet (coalesce evaluates it lazily): an emails statement's
--   trigger has always set it before any row is written.
--
-- Invariant: every emails row and tombstone a transaction commits with a time from
-- its clock carries a time z at or after its marker's key k, and the marker is held from before z until
-- the transaction ends. A reader whose snapshot of pg_locks (taken after its
-- statement began, at now()) shows the marker ends its window at or before k <= z;
-- one whose snapshot does not show it ended its window at or before now(), which
-- is before the lock was taken, so before z. Either way the rows are past the
-- window's end (which is exclusive), and the next window, which starts there,
-- holds them. Which writer, which role, and what the transaction did before
-- its first write do not matter.
--
-- /updates keys on emails.update_timestamp only; the child tables' timestamps
-- (amo, fxa, mofo, newsletters, waitlists) are shown but never select a contact,
-- so they get no trigger: the API stamps them with the write time, other writers
-- as they always did.
--
-- Cost: the statement trigger of 00006 now also reads the clock twice and sets
-- the setting, once per transaction (later statements: its one plpgsql call reads
-- the setting, as it took the lock before); each timestamp an API statement
-- writes, and each emails row's WHEN, is a setting read and a cast (under a
-- microsecond, as now()), no function call. Measured on PostgreSQL 15:
-- ctms_write_time() once remembered about 5 microseconds a call, the inline read
-- about 0.3 (as now()).
--
-- Every function: search_path fixed to pg_catalog then pg_temp, names
-- schema-qualified, no SECURITY DEFINER (the marker and the setting need none).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION public.ctms_write_time() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    remembered text := pg_catalog.current_setting('ctms.write_time', true);
    marked timestamptz;
    written timestamptz;
BEGIN
    -- '' once a transaction that set it has ended (a placeholder setting's reset value).
    IF remembered IS NOT NULL AND remembered <> '' THEN
        RETURN remembered::timestamptz;
    END IF;
    -- The marker of 00006_write_start_marker.sql: the tag 0x4354 in the top 16 bits,
    -- then milliseconds since 2000-01-01 UTC, rounded down (the guard errs early).
    marked := pg_catalog.clock_timestamp();
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        (17236::bigint << 48)
        | floor(extract(epoch FROM marked - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint);
    -- Read once the lock is held, so visible: no reader that missed it ends after this.
    written := pg_catalog.clock_timestamp();
    PERFORM pg_catalog.set_config('ctms.write_time',
        pg_catalog.to_char(written AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    RETURN written;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- The statement trigger of 00006 takes the marker through ctms_write_time(), so
-- the setting is there before any row of the statement is written (the call only
-- once per transaction: later statements find the setting).
CREATE OR REPLACE FUNCTION public.ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(pg_catalog.current_setting('ctms.write_time', true), '') = '' THEN
        PERFORM public.ctms_write_time();
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION public.ctms_stamp_update_timestamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.update_timestamp IS NOT DISTINCT FROM OLD.update_timestamp THEN
        RETURN NEW; -- the writer left the time alone: not a change the feed shows
    END IF;
    NEW.update_timestamp := public.ctms_write_time();
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION public.ctms_stamp_deleted_at() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.deleted_at := public.ctms_write_time();
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- Every writer runs them (the default, made explicit for databases that revoke it).
GRANT EXECUTE ON FUNCTION public.ctms_write_time() TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.ctms_stamp_update_timestamp() TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.ctms_stamp_deleted_at() TO PUBLIC;

-- Only rows stamped from the transaction's clock before its write time (the
-- setting is there: the statement trigger ran first; NULL, so no firing, if not).
CREATE TRIGGER emails_stamp_write_time
    BEFORE INSERT OR UPDATE ON public.emails
    FOR EACH ROW
    WHEN (NEW.update_timestamp >= now()
          AND NEW.update_timestamp < nullif(current_setting('ctms.write_time', true), '')::timestamptz)
    EXECUTE FUNCTION public.ctms_stamp_update_timestamp();

CREATE TRIGGER deletion_tombstones_stamp_write_time
    BEFORE INSERT ON public.deletion_tombstones
    FOR EACH ROW
    WHEN (NEW.deleted_at >= now()
          AND NEW.deleted_at < nullif(current_setting('ctms.write_time', true), '')::timestamptz)
    EXECUTE FUNCTION public.ctms_stamp_deleted_at();

-- +goose Down
DROP TRIGGER deletion_tombstones_stamp_write_time ON public.deletion_tombstones;
DROP TRIGGER emails_stamp_write_time ON public.emails;
DROP FUNCTION public.ctms_stamp_deleted_at();
DROP FUNCTION public.ctms_stamp_update_timestamp();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        (17236::bigint << 48)
        | floor(extract(epoch FROM now() - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION public.ctms_mark_write_start() RESET ALL;
DROP FUNCTION public.ctms_write_time();
