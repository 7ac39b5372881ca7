-- name: ContactsEstimate :one
-- The planner's estimate of the emails table size (-1 before the first ANALYZE):
-- cheap enough for every heartbeat, unlike COUNT(*).
SELECT reltuples::bigint AS estimate FROM pg_catalog.pg_class WHERE relname = 'emails';

-- name: ContactsExist :one
SELECT EXISTS (SELECT 1 FROM emails) AS found;

-- name: OldestWriteStart :one
-- The start of the oldest transaction that may still commit contact changes.
-- Contacts take their update_timestamp from their transaction's start, so
-- /updates stops its default `end` there: no later commit can land behind a
-- consumer's cursor. Now when none is in flight. Two sources, the earlier wins:
-- - pg_locks, which every role can read: a transaction that has written to
--   emails holds the advisory lock of sql/migrations/00006_write_start_marker.sql,
--   whose key encodes its start (whoever the writer is);
-- - pg_stat_activity, for sessions whose xact_start the role may see (its own,
--   or all with pg_read_all_stats): one that has written, or one of the
--   service's own (application_name ctms) from its BEGIN, before its first write.
SELECT least(
  (SELECT min(timestamptz '2000-01-01 00:00:00+00'
              + (((l.classid::bigint & 65535) << 32) | l.objid::bigint) * interval '1 millisecond')
   FROM pg_catalog.pg_locks AS l
   WHERE l.locktype = 'advisory' AND l.objsubid = 1
     AND l.classid::bigint >> 16 = 17236 -- the tag 0x4354
     AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
     AND l.pid <> pg_backend_pid()),
  (SELECT min(xact_start)
   FROM pg_catalog.pg_stat_activity
   WHERE datname = current_database()
     AND pid <> pg_backend_pid()
     AND xact_start IS NOT NULL
     AND (backend_xid IS NOT NULL OR application_name = 'ctms')),
  now())::timestamptz AS oldest;
