-- The DELETE path closer to its cost before migrations 7 and 8, with the same results
-- (`make bench` measured PostgreSQL's CPU per DELETE at twice migration 6's; see
-- docs/performance.md). Per deleted contact, the tombstone trigger of migration 8:
--
-- 1. called ctms_session_trusted() and ctms_deletion_hmac(), SQL functions with their own
--    search_path, which PostgreSQL cannot inline and so plans anew in every transaction
--    (the first over the pg_roles view). Both become PL/pgSQL, planned once per session,
--    with the same results: trust through pg_has_role() alone (a superuser is a member of
--    every role, so the same three cases hold: superuser, member of ctms_trusted, member
--    of the tables' owner), the HMAC the same expression. deletion_fxa_remember() gains
--    as well.
-- 2. asked for trust even when no deleter was named: now only when ctms.deleted_by
--    names one.
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
CREATE OR REPLACE FUNCTION public.ctms_deletion_hmac(address text) RETURNS varchar(64)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mac varchar(64);
BEGIN
    SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad
               || convert_to(lower(address COLLATE pg_catalog."C"), 'UTF8'))), 'hex')
      INTO mac
      FROM public.deletion_hash_key k
     WHERE address IS NOT NULL;
    RETURN mac;
END
$$;
-- +goose StatementEnd

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
        -- The write time (migration 7), never before the transaction's start: the setting
        -- is one any session may set, as the stamping trigger's WHEN knew.
        greatest(now(), coalesce(nullif(current_setting('ctms.write_time', true), '')::timestamptz, now())),
        coalesce(public.ctms_deletion_hmac(OLD.primary_email), ''),
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

-- +goose Down
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
CREATE OR REPLACE FUNCTION public.ctms_deletion_hmac(address text) RETURNS varchar(64)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad
               || convert_to(lower(address COLLATE pg_catalog."C"), 'UTF8'))), 'hex')
    FROM public.deletion_hash_key k
    WHERE address IS NOT NULL
$$;
-- +goose StatementEnd
