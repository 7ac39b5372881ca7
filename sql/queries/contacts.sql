-- Contacts: the emails row, its one-to-one groups (amo, fxa, mofo) and its
-- newsletters and waitlists.

-- name: ContactGet :many
-- The hot lookup: one whole contact by email_id, or else by primary email
-- (case-insensitive, unique), in one statement. Groups by LEFT JOIN, lists as
-- JSON arrays ordered by name with the database collation. Written so that one
-- generic plan serves every call: no OR between the two keys (which would keep
-- the plan cache on custom plans, planned again on every execution); the
-- primary email becomes an email_id in an InitPlan that coalesce skips when
-- the email_id is given.
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id, e.first_name, e.last_name,
  e.mailing_country, e.email_format, e.email_lang, e.has_opted_out_of_email,
  e.unsubscribe_reason, e.double_opt_in, e.create_timestamp, e.update_timestamp,
  a.id AS amo_row_id, a.add_on_ids AS amo_add_on_ids, a.display_name AS amo_display_name,
  a.email_opt_in AS amo_email_opt_in, a.language AS amo_language, a.last_login AS amo_last_login,
  a.location AS amo_location, a.profile_url AS amo_profile_url, a."user" AS amo_user,
  a.user_id AS amo_user_id, a.username AS amo_username,
  a.create_timestamp AS amo_create_timestamp, a.update_timestamp AS amo_update_timestamp,
  f.id AS fxa_row_id, f.fxa_id AS fxa_fxa_id, f.primary_email AS fxa_primary_email,
  f.created_date AS fxa_created_date, f.lang AS fxa_lang, f.first_service AS fxa_first_service,
  f.account_deleted AS fxa_account_deleted,
  m.id AS mofo_row_id, m.mofo_email_id AS mofo_mofo_email_id,
  m.mofo_contact_id AS mofo_mofo_contact_id, m.mofo_relevant AS mofo_mofo_relevant,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', n.name, 'subscribed', n.subscribed, 'format', n.format, 'lang', n.lang,
      'source', n.source, 'unsub_reason', n.unsub_reason,
      'create_timestamp', n.create_timestamp, 'update_timestamp', n.update_timestamp
    ) ORDER BY n.name)
    FROM newsletters n WHERE n.email_id = e.email_id
  ), '[]')::json AS newsletters,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', w.name, 'source', w.source, 'fields', w.fields, 'subscribed', w.subscribed,
      'unsub_reason', w.unsub_reason,
      'create_timestamp', w.create_timestamp, 'update_timestamp', w.update_timestamp
    ) ORDER BY w.name)
    FROM waitlists w WHERE w.email_id = e.email_id
  ), '[]')::json AS waitlists
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE e.email_id = coalesce(sqlc.narg(email_id)::uuid,
  (SELECT x.email_id FROM emails x WHERE lower(x.primary_email) = lower(sqlc.narg(primary_email)::text)));

-- name: ContactsGetByIDs :many
-- Whole contacts by email_id (any number), as ContactGet.
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id, e.first_name, e.last_name,
  e.mailing_country, e.email_format, e.email_lang, e.has_opted_out_of_email,
  e.unsubscribe_reason, e.double_opt_in, e.create_timestamp, e.update_timestamp,
  a.id AS amo_row_id, a.add_on_ids AS amo_add_on_ids, a.display_name AS amo_display_name,
  a.email_opt_in AS amo_email_opt_in, a.language AS amo_language, a.last_login AS amo_last_login,
  a.location AS amo_location, a.profile_url AS amo_profile_url, a."user" AS amo_user,
  a.user_id AS amo_user_id, a.username AS amo_username,
  a.create_timestamp AS amo_create_timestamp, a.update_timestamp AS amo_update_timestamp,
  f.id AS fxa_row_id, f.fxa_id AS fxa_fxa_id, f.primary_email AS fxa_primary_email,
  f.created_date AS fxa_created_date, f.lang AS fxa_lang, f.first_service AS fxa_first_service,
  f.account_deleted AS fxa_account_deleted,
  m.id AS mofo_row_id, m.mofo_email_id AS mofo_mofo_email_id,
  m.mofo_contact_id AS mofo_mofo_contact_id, m.mofo_relevant AS mofo_mofo_relevant,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', n.name, 'subscribed', n.subscribed, 'format', n.format, 'lang', n.lang,
      'source', n.source, 'unsub_reason', n.unsub_reason,
      'create_timestamp', n.create_timestamp, 'update_timestamp', n.update_timestamp
    ) ORDER BY n.name)
    FROM newsletters n WHERE n.email_id = e.email_id
  ), '[]')::json AS newsletters,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', w.name, 'source', w.source, 'fields', w.fields, 'subscribed', w.subscribed,
      'unsub_reason', w.unsub_reason,
      'create_timestamp', w.create_timestamp, 'update_timestamp', w.update_timestamp
    ) ORDER BY w.name)
    FROM waitlists w WHERE w.email_id = e.email_id
  ), '[]')::json AS waitlists
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE e.email_id = ANY(@email_ids::uuid[]);

-- name: IdentitiesFind :many
-- Identities matching every given identifier (a NULL parameter is no filter).
-- primary_email and fxa_primary_email match case-insensitively.
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id,
  m.mofo_contact_id, m.mofo_email_id, a.user_id AS amo_user_id,
  f.fxa_id, f.primary_email AS fxa_primary_email
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE (sqlc.narg(email_id)::uuid IS NULL OR e.email_id = sqlc.narg(email_id)::uuid)
  AND (sqlc.narg(primary_email)::text IS NULL OR lower(e.primary_email) = lower(sqlc.narg(primary_email)::text))
  AND (sqlc.narg(basket_token)::text IS NULL OR e.basket_token = sqlc.narg(basket_token)::text)
  AND (sqlc.narg(sfdc_id)::text IS NULL OR e.sfdc_id = sqlc.narg(sfdc_id)::text)
  AND (sqlc.narg(mofo_contact_id)::text IS NULL OR m.mofo_contact_id = sqlc.narg(mofo_contact_id)::text)
  AND (sqlc.narg(mofo_email_id)::text IS NULL OR m.mofo_email_id = sqlc.narg(mofo_email_id)::text)
  AND (sqlc.narg(amo_user_id)::text IS NULL OR a.user_id = sqlc.narg(amo_user_id)::text)
  AND (sqlc.narg(fxa_id)::text IS NULL OR f.fxa_id = sqlc.narg(fxa_id)::text)
  AND (sqlc.narg(fxa_primary_email)::text IS NULL OR lower(f.primary_email) = lower(sqlc.narg(fxa_primary_email)::text));

-- name: UpdatesFirstPage :many
-- First page of the change feed, whole contacts in one statement: keyset order
-- on bulk_read_index. Written for one generic plan: the page's email_ids as an
-- array (a page of unknown size planned as a join would be estimated at a tenth
-- of the table, and hash-joined), and without a mofo_relevant filter
-- (UpdatesFirstPageMofo has it: an optional filter keeps a statement on custom
-- plans, planned anew on every call).
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id, e.first_name, e.last_name,
  e.mailing_country, e.email_format, e.email_lang, e.has_opted_out_of_email,
  e.unsubscribe_reason, e.double_opt_in, e.create_timestamp, e.update_timestamp,
  a.id AS amo_row_id, a.add_on_ids AS amo_add_on_ids, a.display_name AS amo_display_name,
  a.email_opt_in AS amo_email_opt_in, a.language AS amo_language, a.last_login AS amo_last_login,
  a.location AS amo_location, a.profile_url AS amo_profile_url, a."user" AS amo_user,
  a.user_id AS amo_user_id, a.username AS amo_username,
  a.create_timestamp AS amo_create_timestamp, a.update_timestamp AS amo_update_timestamp,
  f.id AS fxa_row_id, f.fxa_id AS fxa_fxa_id, f.primary_email AS fxa_primary_email,
  f.created_date AS fxa_created_date, f.lang AS fxa_lang, f.first_service AS fxa_first_service,
  f.account_deleted AS fxa_account_deleted,
  m.id AS mofo_row_id, m.mofo_email_id AS mofo_mofo_email_id,
  m.mofo_contact_id AS mofo_mofo_contact_id, m.mofo_relevant AS mofo_mofo_relevant,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', n.name, 'subscribed', n.subscribed, 'format', n.format, 'lang', n.lang,
      'source', n.source, 'unsub_reason', n.unsub_reason,
      'create_timestamp', n.create_timestamp, 'update_timestamp', n.update_timestamp
    ) ORDER BY n.name)
    FROM newsletters n WHERE n.email_id = e.email_id
  ), '[]')::json AS newsletters,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', w.name, 'source', w.source, 'fields', w.fields, 'subscribed', w.subscribed,
      'unsub_reason', w.unsub_reason,
      'create_timestamp', w.create_timestamp, 'update_timestamp', w.update_timestamp
    ) ORDER BY w.name)
    FROM waitlists w WHERE w.email_id = e.email_id
  ), '[]')::json AS waitlists
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE e.email_id = ANY(ARRAY(
  SELECT x.email_id FROM emails x
  WHERE x.update_timestamp >= @start_ts AND x.update_timestamp < @end_ts
  ORDER BY x.update_timestamp, x.email_id
  LIMIT @max_rows))
ORDER BY e.update_timestamp, e.email_id;

-- name: UpdatesNextPage :many
-- Next page after the cursor (update_timestamp, email_id): a strict keyset, so no
-- contact repeats or is skipped even when many share one timestamp. Written as
-- UpdatesFirstPage, for one generic plan.
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id, e.first_name, e.last_name,
  e.mailing_country, e.email_format, e.email_lang, e.has_opted_out_of_email,
  e.unsubscribe_reason, e.double_opt_in, e.create_timestamp, e.update_timestamp,
  a.id AS amo_row_id, a.add_on_ids AS amo_add_on_ids, a.display_name AS amo_display_name,
  a.email_opt_in AS amo_email_opt_in, a.language AS amo_language, a.last_login AS amo_last_login,
  a.location AS amo_location, a.profile_url AS amo_profile_url, a."user" AS amo_user,
  a.user_id AS amo_user_id, a.username AS amo_username,
  a.create_timestamp AS amo_create_timestamp, a.update_timestamp AS amo_update_timestamp,
  f.id AS fxa_row_id, f.fxa_id AS fxa_fxa_id, f.primary_email AS fxa_primary_email,
  f.created_date AS fxa_created_date, f.lang AS fxa_lang, f.first_service AS fxa_first_service,
  f.account_deleted AS fxa_account_deleted,
  m.id AS mofo_row_id, m.mofo_email_id AS mofo_mofo_email_id,
  m.mofo_contact_id AS mofo_mofo_contact_id, m.mofo_relevant AS mofo_mofo_relevant,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', n.name, 'subscribed', n.subscribed, 'format', n.format, 'lang', n.lang,
      'source', n.source, 'unsub_reason', n.unsub_reason,
      'create_timestamp', n.create_timestamp, 'update_timestamp', n.update_timestamp
    ) ORDER BY n.name)
    FROM newsletters n WHERE n.email_id = e.email_id
  ), '[]')::json AS newsletters,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', w.name, 'source', w.source, 'fields', w.fields, 'subscribed', w.subscribed,
      'unsub_reason', w.unsub_reason,
      'create_timestamp', w.create_timestamp, 'update_timestamp', w.update_timestamp
    ) ORDER BY w.name)
    FROM waitlists w WHERE w.email_id = e.email_id
  ), '[]')::json AS waitlists
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE e.email_id = ANY(ARRAY(
  SELECT x.email_id FROM emails x
  WHERE (x.update_timestamp, x.email_id) > (@after_ts::timestamptz, @after_id::uuid)
    -- Implied by the keyset: it lets the planner see a range, as on the first page.
    AND x.update_timestamp >= @after_ts::timestamptz AND x.update_timestamp < @end_ts
  ORDER BY x.update_timestamp, x.email_id
  LIMIT @max_rows))
ORDER BY e.update_timestamp, e.email_id;

-- name: UpdatesFirstPageMofo :many
-- UpdatesFirstPage with the mofo_relevant filter: the page's email_ids, in order
-- (ContactsGetByIDs reads the contacts).
SELECT e.email_id FROM emails e
WHERE e.update_timestamp >= @start_ts AND e.update_timestamp < @end_ts
  AND (CASE WHEN @mofo_relevant::boolean
    THEN EXISTS (SELECT 1 FROM mofo m WHERE m.email_id = e.email_id AND m.mofo_relevant = true)
    ELSE NOT EXISTS (SELECT 1 FROM mofo m WHERE m.email_id = e.email_id AND m.mofo_relevant IS NOT false)
  END)
ORDER BY e.update_timestamp, e.email_id
LIMIT @max_rows;

-- name: UpdatesNextPageMofo :many
-- UpdatesNextPage with the mofo_relevant filter: the page's email_ids, in order.
SELECT e.email_id FROM emails e
WHERE (e.update_timestamp, e.email_id) > (@after_ts::timestamptz, @after_id::uuid)
  AND e.update_timestamp < @end_ts
  AND (CASE WHEN @mofo_relevant::boolean
    THEN EXISTS (SELECT 1 FROM mofo m WHERE m.email_id = e.email_id AND m.mofo_relevant = true)
    ELSE NOT EXISTS (SELECT 1 FROM mofo m WHERE m.email_id = e.email_id AND m.mofo_relevant IS NOT false)
  END)
ORDER BY e.update_timestamp, e.email_id
LIMIT @max_rows;

-- name: EmailLock :exec
-- Locks a contact for a read-modify-write (PATCH).
SELECT email_id FROM emails WHERE email_id = @email_id FOR UPDATE;

-- name: EmailLockByPrimaryEmail :exec
-- DELETE: locks the contact of a primary email (case-insensitive, unique)
-- before any of its child rows is touched, so that a concurrent write of the
-- same contact either finishes first or waits and then finds it gone; and names
-- who deletes for the tombstone trigger until the transaction ends
-- (sql/migrations/00005_deletion_tombstones.sql).
SELECT e.email_id, set_config('ctms.deleted_by', @deleted_by::text, true)
FROM emails e WHERE lower(e.primary_email) = lower(@primary_email::text)
FOR UPDATE OF e;

-- name: IdentityByPrimaryEmail :many
-- The identity of the contact of a primary email (case-insensitive, unique).
SELECT
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id,
  m.mofo_contact_id, m.mofo_email_id, a.user_id AS amo_user_id,
  f.fxa_id, f.primary_email AS fxa_primary_email
FROM emails e
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id
WHERE lower(e.primary_email) = lower(@primary_email::text);

-- name: ContactCreate :exec
-- POST: the whole new contact in one statement. When a contact with this
-- email_id exists nothing is written (the caller reads it back and compares it
-- with the body: idempotent re-POST or conflict). The statement returns the new
-- email_id, so its command tag ("SELECT 1" or "SELECT 0") tells which. A group
-- is written when its has_ flag is set; lists are JSON arrays as in
-- NewslettersUpsert and WaitlistsUpsert. Every row carries the transaction's write
-- time (sql/migrations/00007_write_time.sql), as create and update time.
WITH e AS (
  INSERT INTO emails (
    email_id, primary_email, basket_token, sfdc_id, first_name, last_name, mailing_country,
    email_format, email_lang, has_opted_out_of_email, unsubscribe_reason, double_opt_in,
    create_timestamp, update_timestamp
  ) VALUES (
    @email_id, @primary_email, @basket_token, @sfdc_id, @first_name, @last_name, @mailing_country,
    @email_format, @email_lang, @has_opted_out_of_email, @unsubscribe_reason, @double_opt_in,
    current_setting('ctms.write_time')::timestamptz,
    current_setting('ctms.write_time')::timestamptz
  )
  ON CONFLICT (email_id) DO NOTHING
  RETURNING email_id, update_timestamp AS written
), a AS (
  INSERT INTO amo (
    email_id, add_on_ids, display_name, email_opt_in, language, last_login, location,
    profile_url, "user", user_id, username, create_timestamp, update_timestamp
  )
  SELECT e.email_id, sqlc.narg(amo_add_on_ids)::text, sqlc.narg(amo_display_name)::text,
    @amo_email_opt_in::boolean, sqlc.narg(amo_language)::text, sqlc.narg(amo_last_login)::date,
    sqlc.narg(amo_location)::text, sqlc.narg(amo_profile_url)::text, @amo_is_user::boolean,
    sqlc.narg(amo_user_id)::text, sqlc.narg(amo_username)::text, e.written, e.written
  FROM e WHERE @has_amo::boolean
), f AS (
  INSERT INTO fxa (email_id, fxa_id, primary_email, created_date, lang, first_service, account_deleted,
    create_timestamp, update_timestamp)
  SELECT e.email_id, sqlc.narg(fxa_fxa_id)::text, sqlc.narg(fxa_primary_email)::text,
    sqlc.narg(fxa_created_date)::text, sqlc.narg(fxa_lang)::text, sqlc.narg(fxa_first_service)::text,
    @fxa_account_deleted::boolean, e.written, e.written
  FROM e WHERE @has_fxa::boolean
), m AS (
  INSERT INTO mofo (email_id, mofo_email_id, mofo_contact_id, mofo_relevant, create_timestamp, update_timestamp)
  SELECT e.email_id, sqlc.narg(mofo_email_id)::text, sqlc.narg(mofo_contact_id)::text,
    @mofo_relevant::boolean, e.written, e.written
  FROM e WHERE @has_mofo::boolean
), n AS (
  INSERT INTO newsletters (email_id, name, subscribed, format, lang, source, unsub_reason,
    create_timestamp, update_timestamp)
  SELECT e.email_id, x.name, x.subscribed, x.format, x.lang, x.source, x.unsub_reason, e.written, e.written
  FROM e, json_to_recordset(@newsletters::json) AS x(
    name text, subscribed boolean, format text, lang text, source text, unsub_reason text)
), w AS (
  INSERT INTO waitlists (email_id, name, source, fields, subscribed, unsub_reason,
    create_timestamp, update_timestamp)
  SELECT e.email_id, x.name, x.source, coalesce(x.fields, '{}'::json), x.subscribed, x.unsub_reason,
    e.written, e.written
  FROM e, json_to_recordset(@waitlists::json) AS x(
    name text, source text, fields json, subscribed boolean, unsub_reason text)
)
SELECT email_id FROM e;

-- name: EmailUpsert :exec
-- PUT: create, or replace every field and bump update_timestamp. The write
-- statements below stamp every row they write with the transaction's write time
-- (sql/migrations/00007_write_time.sql): one write, one time. It is read from
-- the transaction's setting, which the emails statement trigger has set before
-- the first row of the write's first statement (every write here writes emails
-- first: EmailUpsert, EmailUpdate, ContactCreate's first CTE); without it the
-- read fails rather than stamp another time (sql/migrations/00011_write_path_speed.sql).
INSERT INTO emails (
  email_id, primary_email, basket_token, sfdc_id, first_name, last_name, mailing_country,
  email_format, email_lang, has_opted_out_of_email, unsubscribe_reason, double_opt_in,
  create_timestamp, update_timestamp
) VALUES (
  @email_id, @primary_email, @basket_token, @sfdc_id, @first_name, @last_name, @mailing_country,
  @email_format, @email_lang, @has_opted_out_of_email, @unsubscribe_reason, @double_opt_in,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz
)
ON CONFLICT (email_id) DO UPDATE SET
  primary_email = excluded.primary_email, basket_token = excluded.basket_token,
  sfdc_id = excluded.sfdc_id, first_name = excluded.first_name, last_name = excluded.last_name,
  mailing_country = excluded.mailing_country, email_format = excluded.email_format,
  email_lang = excluded.email_lang, has_opted_out_of_email = excluded.has_opted_out_of_email,
  unsubscribe_reason = excluded.unsubscribe_reason, double_opt_in = excluded.double_opt_in,
  update_timestamp = excluded.update_timestamp;

-- name: EmailUpdate :exec
-- PATCH: write every field and always bump update_timestamp.
UPDATE emails SET
  primary_email = @primary_email, basket_token = @basket_token, sfdc_id = @sfdc_id,
  first_name = @first_name, last_name = @last_name, mailing_country = @mailing_country,
  email_format = @email_format, email_lang = @email_lang,
  has_opted_out_of_email = @has_opted_out_of_email, unsubscribe_reason = @unsubscribe_reason,
  double_opt_in = @double_opt_in, update_timestamp = current_setting('ctms.write_time')::timestamptz
WHERE email_id = @email_id;

-- name: EmailDelete :exec
DELETE FROM emails WHERE email_id = @email_id;

-- name: AmoUpsert :exec
INSERT INTO amo (
  email_id, add_on_ids, display_name, email_opt_in, language, last_login, location,
  profile_url, "user", user_id, username, create_timestamp, update_timestamp
) VALUES (
  @email_id, @add_on_ids, @display_name, @email_opt_in, @language, @last_login, @location,
  @profile_url, @is_user, @user_id, @username,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz
)
ON CONFLICT (email_id) DO UPDATE SET
  add_on_ids = excluded.add_on_ids, display_name = excluded.display_name,
  email_opt_in = excluded.email_opt_in, language = excluded.language,
  last_login = excluded.last_login, location = excluded.location,
  profile_url = excluded.profile_url, "user" = excluded."user", user_id = excluded.user_id,
  username = excluded.username, update_timestamp = excluded.update_timestamp;

-- name: AmoDelete :exec
DELETE FROM amo WHERE email_id = @email_id;

-- name: FxaUpsert :exec
INSERT INTO fxa (
  email_id, fxa_id, primary_email, created_date, lang, first_service, account_deleted,
  create_timestamp, update_timestamp
) VALUES (
  @email_id, @fxa_id, @primary_email, @created_date, @lang, @first_service, @account_deleted,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz
)
ON CONFLICT (email_id) DO UPDATE SET
  fxa_id = excluded.fxa_id, primary_email = excluded.primary_email,
  created_date = excluded.created_date, lang = excluded.lang,
  first_service = excluded.first_service, account_deleted = excluded.account_deleted,
  update_timestamp = excluded.update_timestamp;

-- name: FxaDelete :exec
DELETE FROM fxa WHERE email_id = @email_id;

-- name: MofoUpsert :exec
INSERT INTO mofo (email_id, mofo_email_id, mofo_contact_id, mofo_relevant, create_timestamp, update_timestamp)
VALUES (@email_id, @mofo_email_id, @mofo_contact_id, @mofo_relevant,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz)
ON CONFLICT (email_id) DO UPDATE SET
  mofo_email_id = excluded.mofo_email_id, mofo_contact_id = excluded.mofo_contact_id,
  mofo_relevant = excluded.mofo_relevant, update_timestamp = excluded.update_timestamp;

-- name: MofoDelete :exec
DELETE FROM mofo WHERE email_id = @email_id;

-- name: NewslettersUpsert :exec
-- Inserts or updates the given newsletters (a JSON array of objects) in one
-- statement; an updated row keeps its id and create_timestamp.
INSERT INTO newsletters (email_id, name, subscribed, format, lang, source, unsub_reason,
  create_timestamp, update_timestamp)
SELECT @email_id, x.name, x.subscribed, x.format, x.lang, x.source, x.unsub_reason,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz
FROM json_to_recordset(@items::json) AS x(
  name text, subscribed boolean, format text, lang text, source text, unsub_reason text)
ON CONFLICT (email_id, name) DO UPDATE SET
  subscribed = excluded.subscribed, format = excluded.format, lang = excluded.lang,
  source = excluded.source, unsub_reason = excluded.unsub_reason,
  update_timestamp = excluded.update_timestamp;

-- name: NewslettersDeleteExcept :exec
-- PUT: removes the newsletters that are not in the new list.
DELETE FROM newsletters WHERE email_id = @email_id AND NOT (name = ANY(@keep_names::text[]));

-- name: WaitlistsUpsert :exec
INSERT INTO waitlists (email_id, name, source, fields, subscribed, unsub_reason,
  create_timestamp, update_timestamp)
SELECT @email_id, x.name, x.source, coalesce(x.fields, '{}'::json), x.subscribed, x.unsub_reason,
  current_setting('ctms.write_time')::timestamptz,
  current_setting('ctms.write_time')::timestamptz
FROM json_to_recordset(@items::json) AS x(
  name text, source text, fields json, subscribed boolean, unsub_reason text)
ON CONFLICT (email_id, name) DO UPDATE SET
  source = excluded.source, fields = excluded.fields, subscribed = excluded.subscribed,
  unsub_reason = excluded.unsub_reason, update_timestamp = excluded.update_timestamp;

-- name: WaitlistsDeleteExcept :exec
DELETE FROM waitlists WHERE email_id = @email_id AND NOT (name = ANY(@keep_names::text[]));

-- name: ContactDeleteChildren :exec
-- Child rows first: the foreign keys have no ON DELETE action.
WITH a AS (DELETE FROM amo WHERE amo.email_id = @email_id),
     m AS (DELETE FROM mofo WHERE mofo.email_id = @email_id),
     n AS (DELETE FROM newsletters WHERE newsletters.email_id = @email_id),
     w AS (DELETE FROM waitlists WHERE waitlists.email_id = @email_id)
DELETE FROM fxa WHERE fxa.email_id = @email_id;
