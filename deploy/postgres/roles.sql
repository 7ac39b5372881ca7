-- Minimum privileges of the two CTMS database roles (docs/operations.md#database-roles).
-- Run once per database as a superuser, connected to the CTMS database, before the first
-- `ctms migrate`:  psql -v ON_ERROR_STOP=1 -d ctms -f deploy/postgres/roles.sql
-- then give each role a password (\password ctms_migrate, \password ctms_app).
-- make ops-test creates these roles with this file and runs `ctms migrate` as ctms_migrate
-- and `ctms serve` (and the admin commands) as ctms_app.

-- ctms_migrate runs `ctms migrate`: it creates and alters the tables, so it owns them.
CREATE ROLE ctms_migrate LOGIN;
-- ctms_app runs `ctms serve` and the admin commands (clients, roles, optout import):
-- reads and writes rows, nothing else.
CREATE ROLE ctms_app LOGIN;

DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ctms_migrate, ctms_app', current_database());
END
$$;

-- The first migration creates uuid-ossp "IF NOT EXISTS"; creating an extension needs more
-- than ctms_migrate has, so it is created here.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO ctms_migrate;
GRANT USAGE ON SCHEMA public TO ctms_app;

-- Tables and sequences ctms_migrate creates from now on...
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ctms_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ctms_migrate IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO ctms_app;
-- ...and those that already exist (a database taken over from the Python CTMS: also make
-- ctms_migrate their owner, e.g. REASSIGN OWNED BY <old owner> TO ctms_migrate).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ctms_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ctms_app;

-- No pg_read_all_stats: the /updates and /deletions guard against late commits reads the
-- write-start marker of every writer in pg_locks, which every role can see
-- (sql/migrations/00006_write_start_marker.sql).
