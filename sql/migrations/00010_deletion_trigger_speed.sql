-- The write path closer to its cost before migrations 7 and 8, with the same results
-- (`make bench` measured PostgreSQL's CPU per DELETE at twice migration 6's; see
-- docs/performance.md). Per deleted contact, the tombstone trigger of migration 8:
--
-- 1. asked ctms_session_trusted(), a SQL function with its own search_path, which
--    PostgreSQL cannot inline and so plans anew in every transaction, over the pg_roles
--    view and pg_class, even when no deleter was named. Trust is now asked only when
--    ctms.deleted_by names one, inline, through pg_has_role() alone: a superuser is a
--    member of every role, so the same three cases (superuser, member of ctms_trusted,
--    member of the tables' owner, whom this SECURITY DEFINER trigger runs as) hold.
--    ctms_session_trusted() itself (the purge's check) becomes PL/pgSQL, planned once
--    per session.
-- 2. called ctms_deletion_hmac() (a SQL function again, and a read of deletion_hash_key)
--    for the address: the key's pads are read once and the HMAC is computed inline, the
--    same expression; so does deletion_fxa_remember().
-- 3. inserted a tombstone stamped with the transaction's start, which the BEFORE
--    trigger of migration 7 then raised to the write time through two more function
--    calls: the tombstone is now written at the write time at once (the marker is
--    taken by the DELETE's statement trigger, emails_mark_write_start, before any row
--    trigger runs; never earlier than the transaction's start, as the stamping only ever
--    raised it), so that trigger's WHEN is false and it no longer fires for it.
--
-- And every write to emails: its statement trigger takes the write-start marker inline
-- rather than through a call of ctms_write_time().
--
-- Every function keeps search_path = pg_catalog, pg_temp and schema-qualified names
-- (migration 8).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.ctms_session_trusted() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN pg_catalog.pg_has_role(session_user,
               (SELECT c.relowner FROM pg_catalog.pg_class c
                 WHERE c.oid = 'public.deletion_tombstones'::pg_catalog.regclass), 'MEMBER')
        OR coalesce(pg_catalog.pg_has_role(session_user, pg_catalog.to_regrole('ctms_trusted'), 'MEMBER'), false);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    deleter text := left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255);
    ipad bytea;
    opad bytea;
BEGIN
    -- ctms_session_trusted() inline (a call costs more than the test): this SECURITY
    -- DEFINER function runs as the tables' owner, current_user.
    IF deleter <> 'database'
       AND NOT (pg_catalog.pg_has_role(session_user, current_user, 'MEMBER')
                OR coalesce(pg_catalog.pg_has_role(session_user, pg_catalog.to_regrole('ctms_trusted'), 'MEMBER'), false)) THEN
        deleter := 'database';
    END IF;
    SELECT k.inner_pad, k.outer_pad INTO ipad, opad FROM public.deletion_hash_key k;
    INSERT INTO public.deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    VALUES (
        OLD.email_id,
        -- The write time (migration 7), never before the transaction's start: the setting
        -- is one any session may set, as the stamping trigger's WHEN knew.
        greatest(now(), coalesce(nullif(current_setting('ctms.write_time', true), '')::timestamptz, now())),
        -- ctms_deletion_hmac(OLD.primary_email) inline; '' without a key.
        coalesce(encode(sha256(opad || sha256(ipad
            || convert_to(lower(OLD.primary_email COLLATE pg_catalog."C"), 'UTF8'))), 'hex'), ''),
        (SELECT nullif(p.fxa_primary_email_sha256, '') FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        deleter)
    -- The same email_id deleted twice in one transaction (re-created in between): one row.
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
DECLARE
    ipad bytea;
    opad bytea;
BEGIN
    IF OLD.primary_email IS NOT NULL THEN
        SELECT k.inner_pad, k.outer_pad INTO ipad, opad FROM public.deletion_hash_key k;
        INSERT INTO public.deletion_fxa_pending (email_id, xact_id, fxa_primary_email_sha256)
        VALUES (OLD.email_id, txid_current(),
                coalesce(encode(sha256(opad || sha256(ipad
                    || convert_to(lower(OLD.primary_email COLLATE pg_catalog."C"), 'UTF8'))), 'hex'), ''))
        ON CONFLICT (email_id, xact_id) DO UPDATE
            SET fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- ctms_write_time()'s marker inline: the statement trigger of every write to emails
-- takes it without a second function call.
CREATE OR REPLACE FUNCTION public.ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    marked timestamptz;
BEGIN
    IF coalesce(pg_catalog.current_setting('ctms.write_time', true), '') = '' THEN
        -- As public.ctms_write_time() (00007_write_time.sql): the marker, then the time.
        marked := pg_catalog.clock_timestamp();
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(
            (17236::bigint << 48)
            | floor(extract(epoch FROM marked - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint);
        PERFORM pg_catalog.set_config('ctms.write_time',
            pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', true);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
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
CREATE OR REPLACE FUNCTION public.deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    VALUES (
        OLD.email_id,
        now(),
        coalesce(public.ctms_deletion_hmac(OLD.primary_email), ''),
        (SELECT nullif(p.fxa_primary_email_sha256, '') FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        CASE WHEN public.ctms_session_trusted()
             THEN left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255)
             ELSE 'database' END)
    ON CONFLICT (deleted_at, email_id) DO UPDATE SET
        primary_email_sha256 = excluded.primary_email_sha256,
        fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256,
        deleted_by = excluded.deleted_by;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.ctms_session_trusted() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user), false)
        OR coalesce((SELECT pg_catalog.pg_has_role(session_user, g.oid, 'MEMBER')
                     FROM pg_catalog.pg_roles g WHERE g.rolname = 'ctms_trusted'), false)
        OR coalesce((SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER')
                     FROM pg_catalog.pg_class c WHERE c.oid = 'public.deletion_tombstones'::pg_catalog.regclass), false)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.ctms_mark_write_start() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coalesce(pg_catalog.current_setting('ctms.write_time', true), '') = '' THEN
        PERFORM public.ctms_write_time();
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
