-- Minimum privileges of the CTMS database roles (docs/operations.md#database-roles).
-- Run as a superuser, connected to the CTMS database, before the first `ctms migrate` (it
-- creates the roles) and again after every `ctms migrate` (it grants on the tables that
-- exist then; it is idempotent):
--   psql -v ON_ERROR_STOP=1 -d ctms -f deploy/postgres/roles.sql
-- then give each login role a password (\password ctms_migrate, ctms_app, ctms_admin, ctms_sync).
-- make ops-test runs it twice around `ctms migrate` as ctms_migrate, `ctms serve` as ctms_app
-- and `ctms clients` as ctms_admin.

-- ctms_migrate runs `ctms migrate`: it creates and alters the tables, so it owns them, and it
--   installs CTMS_DELETION_HASH_KEY.
-- ctms_app runs `ctms serve`: reads everything but the owner's tables, writes contacts and the
--   last access of API clients, nothing else (no API clients, roles, permissions, waitlist
--   field rules; tombstones only through the deletion triggers).
-- ctms_admin runs the admin commands (clients, roles, permissions, waitlist-fields, optout,
--   deletions purge): reads and writes the rows of every table but the owner's.
-- ctms_sync runs `ctms sync` (the Braze syncer): reads everything but the owner's tables,
--   writes its own state (braze_sync_cursor, braze_sync_contacts, braze_sync_in_flight), nothing else; the admin
--   role runs `ctms sync mapping|retry|resync`.
-- ctms_trusted (no login) is the group of both: the deletion triggers record the
--   transaction's ctms.deleted_by only for its members (and superusers), and only they may
--   purge tombstones (sql/migrations/00008_database_hardening.sql). Roles belong to the whole
--   cluster: a cluster serving several CTMS databases shares this group.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ctms_migrate', 'ctms_app', 'ctms_admin', 'ctms_sync', 'ctms_trusted'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', r, CASE WHEN r = 'ctms_trusted' THEN 'NOLOGIN' ELSE 'LOGIN' END);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by another run
            END;
        END IF;
    END LOOP;
END
$$;
GRANT ctms_trusted TO ctms_app, ctms_admin;

DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ctms_migrate, ctms_app, ctms_admin, ctms_sync', current_database());
END
$$;

-- The first migration creates uuid-ossp "IF NOT EXISTS"; creating an extension needs more
-- than ctms_migrate has, so it is created here.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO ctms_migrate;
GRANT USAGE ON SCHEMA public TO ctms_app, ctms_admin, ctms_sync;

-- Tables and sequences ctms_migrate creates from now on: read by both, written by the admin
-- role only until the next run of this script grants the service what it writes (below).
-- Migration 8 revokes what these give on the owner's tables.
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public REVOKE ALL ON TABLES FROM ctms_app, ctms_admin, ctms_sync;
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public GRANT SELECT ON TABLES TO ctms_app, ctms_sync;
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ctms_admin;
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ctms_app, ctms_admin;

-- The tables that exist now (none before the first `ctms migrate`). A database taken over
-- from the Python CTMS: make ctms_migrate their owner first (REASSIGN OWNED BY <old owner>
-- TO ctms_migrate). Everything is revoked first, so that a run replaces the grants of an
-- earlier version of this script.
DO $$
DECLARE
    t text;
    -- The owner's alone (migration 8 revokes them too).
    owner_only  text[] := ARRAY['deletion_hash_key', 'deletion_fxa_pending'];
    -- Written by the deletion triggers and the purge function only.
    read_only   text[] := ARRAY['deletion_tombstones'];
    -- What `ctms serve` writes.
    contacts    text[] := ARRAY['emails', 'amo', 'fxa', 'mofo', 'newsletters', 'waitlists'];
    -- What `ctms sync` writes (sql/migrations/00009_braze_sync.sql, 00012_braze_sync_repair.sql).
    sync_state  text[] := ARRAY['braze_sync_cursor', 'braze_sync_contacts', 'braze_sync_in_flight'];
BEGIN
    FOR t IN SELECT c.relname FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON public.%I FROM ctms_app, ctms_admin, ctms_sync', t);
        CONTINUE WHEN t = ANY (owner_only);
        EXECUTE format('GRANT SELECT ON public.%I TO ctms_app, ctms_sync', t);
        IF t = ANY (read_only) THEN
            EXECUTE format('GRANT SELECT ON public.%I TO ctms_admin', t);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO ctms_admin', t);
        END IF;
        IF t = ANY (contacts) THEN
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON public.%I TO ctms_app', t);
        END IF;
        IF t = ANY (sync_state) THEN
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON public.%I TO ctms_sync', t);
        END IF;
    END LOOP;
    -- Column privileges survive REVOKE ALL on the table: revoke them by name.
    IF to_regclass('public.api_client') IS NOT NULL THEN
        REVOKE UPDATE (last_access, update_timestamp) ON public.api_client FROM ctms_app;
        -- The service stamps each client's last authenticated request, nothing more.
        GRANT UPDATE (last_access, update_timestamp) ON public.api_client TO ctms_app;
    END IF;
END
$$;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ctms_app, ctms_admin;

-- No pg_read_all_stats: the /updates and /deletions guard against late commits reads the
-- write-start marker of every writer in pg_locks, which every role can see
-- (sql/migrations/00006_write_start_marker.sql).
