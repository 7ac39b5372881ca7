-- The write path back near its cost before migrations 7 and 8, with the same results.
-- Counted with callgrind (instructions per transaction of the PostgreSQL backend, a
-- PATCH-like and a DELETE-like transaction; docs/performance.md "The API's write path"),
-- the write-time marker and the keyed tombstones had made PostgreSQL's work 35 % (PATCH)
-- and 30 % (DELETE) larger than under migration 6. Where it went, and what changes:
--
-- 1. PL/pgSQL runs `PERFORM f()` as a whole query through SPI (executor start, run,
--    end), and an expression as a "simple expression", set up once per transaction.
--    ctms_mark_write_start() and ctms_write_time() took the marker and kept the time
--    with PERFORMs, the trigger by calling the function (a second PL/pgSQL call with its
--    own search_path to set and reset). Both now take the marker themselves with simple
--    expressions: pg_try_advisory_xact_lock_shared() (a shared lock is only refused
--    while someone holds the same key exclusively; then the blocking form, on a key
--    read from the clock again, which is no later than the time read after it).
--    The marker's key and the setting's text are those of migration 7, so instances of
--    the previous release, and FeedWriteMarkers (sql/queries/platform.sql), read them
--    as before.
-- 2. ctms_write_time() is STABLE: after its first call in a transaction it returns the
--    same time (it changes no table; the lock and the setting are its only effects). A
--    VOLATILE call kept the planner from flattening INSERT ... SELECT, which cost a
--    subquery scan per statement.
-- 3. A trigger's WHEN is read back from its stored node tree and compiled again for
--    every statement: the stamping trigger's took 1,531 characters. It reads the setting
--    without nullif() and the missing-is-NULL flag now (1,114 characters): the statement
--    trigger has always set it before the first row. Same rows, the same bounds: a bound
--    cheaper to compile (statement_timestamp()) misses clock readings taken earlier in
--    the same top-level statement (a DO block, a procedure that commits), which
--    internal/store/writetime_test.go checks.
-- 4. The tombstone's BEFORE INSERT stamping trigger of migration 7 is dropped: since
--    migration 10 the tombstone trigger writes the write time itself, and only it
--    (SECURITY DEFINER, migration 8) writes tombstones; its WHEN was compiled for every
--    tombstone.
-- 5. A DELETE took the marker in the emails statement trigger, then the tombstone trigger
--    read it back: the tombstone trigger (already a PL/pgSQL call with its search_path)
--    now takes it, the same way, and the statement trigger fires for INSERT and UPDATE
--    only. The marker's code is in three functions; internal/migrate/hardening_test.go
--    checks the three copies are the same.
-- 6. The tombstone triggers computed the HMAC and the trust test by calling
--    ctms_deletion_hmac() and ctms_session_trusted() (PL/pgSQL, each with its search_path
--    and a query of its own): the INSERT now holds the same expressions. The functions
--    stay, for the purge and for operators; internal/migrate/hardening_test.go checks that
--    the tombstone's hashes equal the function's.
--
-- Every function keeps search_path = pg_catalog, pg_temp and schema-qualified names
-- (migration 8).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.ctms_write_time() RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    remembered text := pg_catalog.current_setting('ctms.write_time', true);
    written timestamptz;
BEGIN
    -- '' once a transaction that set it has ended (a placeholder setting's reset value).
    IF remembered <> '' THEN
        RETURN remembered::timestamptz;
    END IF;
    -- The marker (00006_write_start_marker.sql): the tag 0x4354 in the top 16 bits, then
    -- milliseconds since 2000-01-01 UTC, rounded down (the guard errs early).
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(4851502698584866816
           | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                 - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(4851502698584866816
            | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                  - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint);
    END IF;
    -- Read once the lock is held, so visible: no reader that missed it ends after this.
    written := pg_catalog.clock_timestamp();
    remembered := pg_catalog.set_config('ctms.write_time',
        pg_catalog.to_char(written AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    RETURN written;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- The statement trigger of every emails write: the same marker as ctms_write_time(),
-- taken here without calling it (one PL/pgSQL call per statement, not two).
CREATE OR REPLACE FUNCTION public.ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    remembered text;
BEGIN
    IF pg_catalog.current_setting('ctms.write_time', true) <> '' THEN
        RETURN NULL;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(4851502698584866816
           | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                 - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(4851502698584866816
            | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                  - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint);
    END IF;
    remembered := pg_catalog.set_config('ctms.write_time',
        pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER emails_stamp_write_time ON public.emails;
CREATE TRIGGER emails_stamp_write_time
    BEFORE INSERT OR UPDATE ON public.emails
    FOR EACH ROW
    WHEN (NEW.update_timestamp >= now()
          AND NEW.update_timestamp < current_setting('ctms.write_time')::timestamptz)
    EXECUTE FUNCTION public.ctms_stamp_update_timestamp();

DROP TRIGGER deletion_tombstones_stamp_write_time ON public.deletion_tombstones;
DROP FUNCTION public.ctms_stamp_deleted_at();

DROP TRIGGER emails_mark_write_start ON public.emails;
CREATE TRIGGER emails_mark_write_start
    BEFORE INSERT OR UPDATE ON public.emails
    FOR EACH STATEMENT EXECUTE FUNCTION public.ctms_mark_write_start();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_fxa_remember() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.primary_email IS NOT NULL THEN
        -- The hash: ctms_deletion_hmac()'s expression ('' without a key).
        INSERT INTO public.deletion_fxa_pending (email_id, xact_id, fxa_primary_email_sha256)
        SELECT OLD.email_id, txid_current(), coalesce(
            (SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad
                     || convert_to(lower(OLD.primary_email COLLATE pg_catalog."C"), 'UTF8'))), 'hex')
               FROM public.deletion_hash_key k), '')
        ON CONFLICT (email_id, xact_id) DO UPDATE
            SET fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    remembered text := pg_catalog.current_setting('ctms.write_time', true);
BEGIN
    -- The write time: the marker of ctms_mark_write_start(), taken here for a DELETE (its
    -- statement trigger no longer fires for DELETE: a tombstone is the only row a DELETE
    -- gives the feeds).
    IF remembered IS NULL OR remembered = '' THEN
        IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(4851502698584866816
               | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                     - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint) THEN
            PERFORM pg_catalog.pg_advisory_xact_lock_shared(4851502698584866816
                | pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                      - timestamptz '2000-01-01 00:00:00+00') * 1000 - 0.001)::bigint);
        END IF;
        remembered := pg_catalog.set_config('ctms.write_time',
            pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    END IF;
    INSERT INTO public.deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    SELECT
        OLD.email_id,
        -- Never before the transaction's start: the setting is one any session may set.
        greatest(now(), remembered::timestamptz),
        -- ctms_deletion_hmac()'s expression ('' without a key).
        coalesce((SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad
                      || convert_to(lower(OLD.primary_email COLLATE pg_catalog."C"), 'UTF8'))), 'hex')
                    FROM public.deletion_hash_key k), ''),
        (SELECT nullif(p.fxa_primary_email_sha256, '') FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        -- The deleter the session named, only if it is trusted (ctms_session_trusted()'s
        -- test, asked only when one is named). current_user is this SECURITY DEFINER
        -- function's owner: the tables' owner, who created both (CREATE OR REPLACE keeps
        -- the owner), so no catalog read.
        CASE WHEN coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database') = 'database'
               OR NOT (pg_has_role(session_user, current_user, 'MEMBER')
                       OR coalesce(pg_has_role(session_user, to_regrole('ctms_trusted'), 'MEMBER'), false))
             THEN 'database'
             ELSE left(current_setting('ctms.deleted_by', true), 255) END
    -- The same email_id deleted twice in one transaction (re-created in between): one row.
    ON CONFLICT (deleted_at, email_id) DO UPDATE SET
        primary_email_sha256 = excluded.primary_email_sha256,
        fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256,
        deleted_by = excluded.deleted_by;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER emails_mark_write_start ON public.emails;
CREATE TRIGGER emails_mark_write_start
    BEFORE INSERT OR UPDATE OR DELETE ON public.emails
    FOR EACH STATEMENT EXECUTE FUNCTION public.ctms_mark_write_start();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    deleter text := left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255);
BEGIN
    IF deleter <> 'database' AND public.ctms_session_trusted() IS NOT TRUE THEN
        deleter := 'database';
    END IF;
    INSERT INTO public.deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    VALUES (
        OLD.email_id,
        greatest(now(), coalesce(nullif(current_setting('ctms.write_time', true), '')::timestamptz, now())),
        coalesce(public.ctms_deletion_hmac(OLD.primary_email), ''),
        (SELECT nullif(p.fxa_primary_email_sha256, '') FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        deleter)
    ON CONFLICT (deleted_at, email_id) DO UPDATE SET
        primary_email_sha256 = excluded.primary_email_sha256,
        fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256,
        deleted_by = excluded.deleted_by;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_fxa_remember() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.primary_email IS NOT NULL THEN
        INSERT INTO public.deletion_fxa_pending (email_id, xact_id, fxa_primary_email_sha256)
        VALUES (OLD.email_id, txid_current(), coalesce(public.ctms_deletion_hmac(OLD.primary_email), ''))
        ON CONFLICT (email_id, xact_id) DO UPDATE
            SET fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256;
    END IF;
    RETURN NULL;
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
GRANT EXECUTE ON FUNCTION public.ctms_stamp_deleted_at() TO PUBLIC;
CREATE TRIGGER deletion_tombstones_stamp_write_time
    BEFORE INSERT ON public.deletion_tombstones
    FOR EACH ROW
    WHEN (NEW.deleted_at >= now()
          AND NEW.deleted_at < nullif(current_setting('ctms.write_time', true), '')::timestamptz)
    EXECUTE FUNCTION public.ctms_stamp_deleted_at();
DROP TRIGGER emails_stamp_write_time ON public.emails;
CREATE TRIGGER emails_stamp_write_time
    BEFORE INSERT OR UPDATE ON public.emails
    FOR EACH ROW
    WHEN (NEW.update_timestamp >= now()
          AND NEW.update_timestamp < nullif(current_setting('ctms.write_time', true), '')::timestamptz)
    EXECUTE FUNCTION public.ctms_stamp_update_timestamp();
-- +goose StatementBegin
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
CREATE OR REPLACE FUNCTION public.ctms_write_time() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    remembered text := pg_catalog.current_setting('ctms.write_time', true);
    marked timestamptz;
    written timestamptz;
BEGIN
    IF remembered IS NOT NULL AND remembered <> '' THEN
        RETURN remembered::timestamptz;
    END IF;
    marked := pg_catalog.clock_timestamp();
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        (17236::bigint << 48)
        | floor(extract(epoch FROM marked - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint);
    written := pg_catalog.clock_timestamp();
    PERFORM pg_catalog.set_config('ctms.write_time',
        pg_catalog.to_char(written AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    RETURN written;
END
$$;
-- +goose StatementEnd
