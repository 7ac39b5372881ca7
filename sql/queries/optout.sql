-- OptoutApplyBatch applies one batch of suppression-list lines (`ctms optout
-- import`) in a single statement. Line i of the batch is (line_nos[i],
-- emails[i], reasons[i]); an empty reason is stored as NULL.
--
-- An address matches, case-insensitively, every contact whose primary e-mail
-- or FxA primary e-mail it is (both columns are indexed on lower()). Each
-- matched contact takes the reason of the first line of the batch that
-- matches it, and is only written if it has not opted out: the UPDATE's
-- WHERE re-checks has_opted_out_of_email when the row is locked, so a contact
-- that opted out concurrently keeps its own reason and timestamp.
--
-- The result counts lines: updated (the line opted out at least one contact),
-- already_opted_out (it matched contacts, none of them written by it) and
-- unknown (it matched no contact); contacts_updated counts contacts written.
--
-- update_timestamp is the time of the import, not the CSV's date, so that a
-- /updates consumer whose window is past that date still receives the opt-out.
-- It is clock_timestamp(), read as each row is written: after the statement's
-- trigger has put up the in-flight marker of
-- sql/migrations/00006_write_start_marker.sql, so the /updates guard covers the
-- write whatever role runs the import.
-- name: OptoutApplyBatch :one
WITH input AS (
    -- Set-returning functions in a select list advance in lockstep, as
    -- unnest(a, b, c, d) would (which sqlc cannot type).
    SELECT unnest(@line_nos::bigint[]) AS line_no,
           unnest(@emails::text[]) AS email,
           unnest(@reasons::text[]) AS reason
),
matches AS (
    SELECT i.line_no, e.email_id
    FROM input AS i
    JOIN emails AS e ON lower(e.primary_email) = lower(i.email)
    UNION
    SELECT i.line_no, f.email_id
    FROM input AS i
    JOIN fxa AS f ON lower(f.primary_email) = lower(i.email)
),
targets AS (
    SELECT DISTINCT ON (m.email_id) m.email_id, m.line_no, i.reason
    FROM matches AS m
    JOIN input AS i ON i.line_no = m.line_no
    ORDER BY m.email_id, m.line_no
),
written AS (
    UPDATE emails AS e
    SET has_opted_out_of_email = true,
        unsubscribe_reason = NULLIF(t.reason, ''),
        update_timestamp = clock_timestamp()
    FROM targets AS t
    WHERE e.email_id = t.email_id
      AND e.has_opted_out_of_email IS NOT TRUE
    RETURNING e.email_id, t.line_no
),
per_line AS (
    SELECT i.line_no, m.line_no IS NOT NULL AS matched, w.line_no IS NOT NULL AS wrote
    FROM input AS i
    LEFT JOIN (SELECT DISTINCT line_no FROM matches) AS m ON m.line_no = i.line_no
    LEFT JOIN (SELECT DISTINCT line_no FROM written) AS w ON w.line_no = i.line_no
)
SELECT
    (count(*) FILTER (WHERE wrote))::bigint AS updated,
    (count(*) FILTER (WHERE matched AND NOT wrote))::bigint AS already_opted_out,
    (count(*) FILTER (WHERE NOT matched))::bigint AS unknown,
    (SELECT count(*) FROM written)::bigint AS contacts_updated
FROM per_line;
