-- name: ContactsEstimate :one
-- The planner's estimate of the emails table size (-1 before the first ANALYZE):
-- cheap enough for every heartbeat, unlike COUNT(*).
SELECT reltuples::bigint AS estimate FROM pg_catalog.pg_class WHERE relname = 'emails';

-- name: ContactsExist :one
SELECT EXISTS (SELECT 1 FROM emails) AS found;

-- name: FeedWriteMarkers :one
-- The in-flight contact writes the /updates and /deletions guard waits behind:
-- every transaction that has written to emails holds the advisory lock of
-- sql/migrations/00006_write_start_marker.sql from its write time on, whose key
-- encodes that time (rounded down to the millisecond), in pg_locks, which every
-- role can read; and every row it writes carries a time at or after it
-- (sql/migrations/00007_write_time.sql). So the feeds end their default window at
-- waited_for, the oldest marker younger than @max_wait_seconds (a marker older
-- than that, a forgotten session, no longer holds the feeds back; 0 waits for
-- any), or now() when there is none; oldest is the oldest marker of any age (now()
-- when none), for ctms_feed_oldest_write_age_seconds.
WITH bound AS (SELECT @max_wait_seconds::float8 AS wait),
markers AS (
  SELECT timestamptz '2000-01-01 00:00:00+00'
         + (((l.classid::bigint & 65535) << 32) | l.objid::bigint) * interval '1 millisecond' AS marked
  FROM pg_catalog.pg_locks AS l
  WHERE l.locktype = 'advisory' AND l.objsubid = 1
    AND l.classid::bigint >> 16 = 17236 -- the tag 0x4354
    AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
    AND l.pid <> pg_backend_pid()
)
SELECT
  now()::timestamptz AS now,
  least((SELECT min(marked) FROM markers
         WHERE (SELECT wait FROM bound) <= 0 OR marked >= now() - (SELECT wait FROM bound) * interval '1 second'),
        now())::timestamptz AS waited_for,
  least((SELECT min(marked) FROM markers), now())::timestamptz AS oldest;
