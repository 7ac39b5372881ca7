-- The DELETE path back to its cost before migrations 7 and 8, with the same results
-- (`make bench` measured PostgreSQL's CPU per DELETE at twice migration 6's; see
-- docs/performance.md). Per deleted contact, the tombstone trigger of migration 8:
--
-- 1. asked ctms_session_trusted(), which reads the pg_roles view (a join over
--    pg_authid and pg_db_role_setting) and pg_class, even when no deleter was named.
--    Trust is now asked only when ctms.deleted_by names one, and through
--    pg_has_role() alone: a superuser is a member of every role, so the same three
--    cases (superuser, member of ctms_trusted, member of the tables' owner) hold.
-- 2. called ctms_deletion_hmac() (a function call with its own search_path and a read
--    of deletion_hash_key) for the address: the key's pads are read once and the HMAC
--    is computed inline, the same expression.
-- 3. inserted a tombstone stamped with the transaction's start, which the BEFORE
--    trigger of migration 7 then raised to the write time through two more function
--    calls: the tombstone is now written at the write time at once (the marker is
--    taken by the DELETE's statement trigger, emails_mark_write_start, before any row
--    trigger runs; never earlier than the transaction's start, as the stamping only ever
--    raised it), so that trigger's WHEN is false and it no longer fires for it.
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
    IF deleter <> 'database' AND public.ctms_session_trusted() IS NOT TRUE THEN
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
