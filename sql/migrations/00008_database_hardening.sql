-- Hardening of the database objects of migrations 4 to 6 (docs/operations.md#database-roles,
-- docs/deployment.md#deletion-hash-key).
--
-- 1. Fixed search_path. Every function runs with search_path = pg_catalog, pg_temp and names
--    our objects with their schema. The SECURITY DEFINER tombstone triggers of migration 5 had
--    `search_path FROM CURRENT` and unqualified table names, and pg_temp is searched first for
--    relations unless it is named: a role with only DELETE on the contact tables (and the
--    default TEMP right) could create a temporary deletion_tombstones with a trigger of its own,
--    which then ran as the owner when it deleted a contact, and left no tombstone.
--
-- 2. Keyed hashes. A tombstone's hashes were plain SHA-256 of the lower-cased address, the
--    "hashed email" of ad-tech datasets, which any leaked /deletions feed can be joined with.
--    They are now HMAC-SHA256 under a key of the deployment (CTMS_DELETION_HASH_KEY, which
--    `ctms migrate` installs in deletion_hash_key and consumers of /deletions are given), over
--    the UTF-8 bytes of the address with ASCII letters lower-cased (lower() under the "C"
--    collation, whatever the database's locale). PostgreSQL has sha256() but no hmac() without
--    pgcrypto: the HMAC is computed here (RFC 2104; the key's padded forms are stored, so a
--    tombstone costs two sha256() calls). The columns keep their names (instances of the
--    previous release read them during a rolling deploy: migrations are additive) and /deletions
--    calls them *_hmac. Existing tombstones cannot be keyed without their addresses: they keep
--    email_id, deleted_at and deleted_by, and their hashes become '' (the primary one is NOT
--    NULL; /deletions serves null). With no key installed (only possible when the migrations are
--    applied without `ctms migrate`, which requires the key), tombstones are written with ''
--    hashes: a deletion never fails because of its tombstone.
--
-- 3. Owner-only writes. Only the SECURITY DEFINER triggers write tombstones, and only
--    ctms_purge_deletion_tombstones() deletes them; deletion_fxa_pending and deletion_hash_key
--    are the owner's alone. The privileges that default privileges or earlier grants gave other
--    roles on these tables are revoked here, whatever those roles are called.
--
-- 4. Who deleted. The triggers record ctms.deleted_by only for trusted sessions: the session's
--    login role (session_user, which SET ROLE does not change) is a superuser, a member of the
--    group role ctms_trusted (deploy/postgres/roles.sql grants it to the service and the admin
--    role) or of the tables' owner. Any other writer's deletions are 'database', whatever it sets. The same sessions,
--    and only they, may purge tombstones.

-- +goose Up
ALTER FUNCTION public.ctms_notify_access_change() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION public.ctms_mark_write_start() SET search_path = pg_catalog, pg_temp;

-- A single row: the key's inner and outer pads (RFC 2104), never the key itself.
CREATE TABLE public.deletion_hash_key (
    singleton    boolean     NOT NULL DEFAULT true,
    inner_pad    bytea       NOT NULL,
    outer_pad    bytea       NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deletion_hash_key_pkey PRIMARY KEY (singleton),
    CONSTRAINT deletion_hash_key_singleton CHECK (singleton),
    CONSTRAINT deletion_hash_key_pads CHECK (length(inner_pad) = 64 AND length(outer_pad) = 64)
);

-- Plain hashes cannot be keyed: dropped ('' for the NOT NULL primary one).
UPDATE public.deletion_tombstones SET primary_email_sha256 = '', fxa_primary_email_sha256 = NULL;
COMMENT ON COLUMN public.deletion_tombstones.primary_email_sha256 IS
    'Hex HMAC-SHA256 under deletion_hash_key (migration 8); empty: unknown (no key, or a deletion before migration 8)';
COMMENT ON COLUMN public.deletion_tombstones.fxa_primary_email_sha256 IS
    'Hex HMAC-SHA256 under deletion_hash_key (migration 8); NULL: no FxA address, or unknown';

-- +goose StatementBegin
-- Installs the key (`ctms migrate`, from CTMS_DELETION_HASH_KEY); true when it changed.
-- Keys longer than SHA-256's block are hashed first, as RFC 2104 says.
CREATE FUNCTION public.ctms_deletion_hash_key_set(key bytea) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k     bytea := CASE WHEN length(key) > 64 THEN sha256(key) ELSE key END;
    ipad  bytea;
    opad  bytea;
    same  boolean;
BEGIN
    IF key IS NULL OR length(key) = 0 THEN
        RAISE EXCEPTION 'the deletion hash key must not be empty';
    END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);  -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);  -- 0x5c
    END LOOP;
    SELECT true INTO same FROM public.deletion_hash_key h WHERE h.inner_pad = ipad AND h.outer_pad = opad;
    IF same THEN
        RETURN false;
    END IF;
    INSERT INTO public.deletion_hash_key (singleton, inner_pad, outer_pad, installed_at)
    VALUES (true, ipad, opad, now())
    ON CONFLICT (singleton) DO UPDATE
        SET inner_pad = excluded.inner_pad, outer_pad = excluded.outer_pad, installed_at = excluded.installed_at;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- HMAC-SHA256 (hex) of an address under the installed key; NULL without a key or address.
CREATE FUNCTION public.ctms_deletion_hmac(address text) RETURNS varchar(64)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad
               || convert_to(lower(address COLLATE pg_catalog."C"), 'UTF8'))), 'hex')
    FROM public.deletion_hash_key k
    WHERE address IS NOT NULL
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Whether this session's ctms.deleted_by is believed and it may purge tombstones: its login
-- role is a superuser, a member of ctms_trusted, or a member of the tables' owner (a
-- deployment with one role; the owner may redefine these triggers anyway).
CREATE FUNCTION public.ctms_session_trusted() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user), false)
        OR coalesce((SELECT pg_catalog.pg_has_role(session_user, g.oid, 'MEMBER')
                     FROM pg_catalog.pg_roles g WHERE g.rolname = 'ctms_trusted'), false)
        OR coalesce((SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER')
                     FROM pg_catalog.pg_class c WHERE c.oid = 'public.deletion_tombstones'::pg_catalog.regclass), false)
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
CREATE OR REPLACE FUNCTION public.deletion_fxa_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM public.deletion_fxa_pending p WHERE p.email_id = NEW.email_id AND p.xact_id = NEW.xact_id;
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
        now(), -- deleted_at: the deleting transaction's start, like update_timestamp
        coalesce(public.ctms_deletion_hmac(OLD.primary_email), ''),
        (SELECT nullif(p.fxa_primary_email_sha256, '') FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        CASE WHEN public.ctms_session_trusted()
             THEN left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255)
             ELSE 'database' END)
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
-- The retention purge (`ctms serve` hourly, `ctms deletions purge`): trusted sessions only.
CREATE FUNCTION public.ctms_purge_deletion_tombstones(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT public.ctms_session_trusted() THEN
        RAISE EXCEPTION 'only the CTMS service and admin roles (members of ctms_trusted) may purge deletion tombstones'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM public.deletion_tombstones t WHERE t.deleted_at < before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- Only the owner (`ctms migrate`) installs keys or computes hashes: EXECUTE on a hash function
-- would let any role hash guessed addresses, which is what the key is there to prevent.
REVOKE ALL ON FUNCTION public.ctms_deletion_hash_key_set(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.ctms_deletion_hmac(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.deletion_fxa_remember() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.deletion_fxa_forget() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.deletion_tombstone_write() FROM PUBLIC;

-- +goose StatementBegin
DO $$
DECLARE
    g record;
BEGIN
    -- Whoever was granted anything on these tables (default privileges, roles.sql before
    -- this migration, a DBA): the key and the pending FxA hashes are the owner's alone;
    -- tombstones may be read, never written.
    FOR g IN
        SELECT c.oid::regclass AS tbl, a.grantee, a.privilege_type
        FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid IN ('public.deletion_hash_key'::regclass, 'public.deletion_fxa_pending'::regclass,
                        'public.deletion_tombstones'::regclass)
          AND a.grantee <> c.relowner
          AND (c.oid <> 'public.deletion_tombstones'::regclass OR a.privilege_type <> 'SELECT')
    LOOP
        EXECUTE format('REVOKE %s ON %s FROM %s', g.privilege_type, g.tbl,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
REVOKE ALL ON FUNCTION public.ctms_purge_deletion_tombstones(timestamptz) FROM PUBLIC;
DROP FUNCTION public.ctms_purge_deletion_tombstones(timestamptz);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.deletion_tombstone_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.deletion_tombstones (email_id, deleted_at, primary_email_sha256, fxa_primary_email_sha256, deleted_by)
    VALUES (
        OLD.email_id,
        now(),
        encode(sha256(convert_to(lower(OLD.primary_email), 'UTF8')), 'hex'),
        (SELECT p.fxa_primary_email_sha256 FROM public.deletion_fxa_pending p
          WHERE p.email_id = OLD.email_id AND p.xact_id = txid_current()),
        left(coalesce(nullif(current_setting('ctms.deleted_by', true), ''), 'database'), 255))
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
        VALUES (OLD.email_id, txid_current(), encode(sha256(convert_to(lower(OLD.primary_email), 'UTF8')), 'hex'))
        ON CONFLICT (email_id, xact_id) DO UPDATE
            SET fxa_primary_email_sha256 = excluded.fxa_primary_email_sha256;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP FUNCTION public.ctms_session_trusted();
DROP FUNCTION public.ctms_deletion_hmac(text);
DROP FUNCTION public.ctms_deletion_hash_key_set(bytea);
-- Keyed hashes are no plain hashes: the tombstones' hashes are not kept.
UPDATE public.deletion_tombstones SET primary_email_sha256 = '', fxa_primary_email_sha256 = NULL;
COMMENT ON COLUMN public.deletion_tombstones.primary_email_sha256 IS NULL;
COMMENT ON COLUMN public.deletion_tombstones.fxa_primary_email_sha256 IS NULL;
DROP TABLE public.deletion_hash_key;
ALTER FUNCTION public.ctms_mark_write_start() RESET search_path;
ALTER FUNCTION public.ctms_notify_access_change() RESET search_path;
