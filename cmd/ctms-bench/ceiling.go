package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The ceiling's SQL: the least the database must do to produce what each operation
// returns. Reads are one statement returning whole contacts (the e-mail row, its groups
// by LEFT JOIN and its lists aggregated as JSON), as sql/queries/contacts.sql's
// ContactsGetByIDs does; it is kept here as a fixed reference, independent of the
// server's queries, so optimising the server does not move the ceiling. pgx prepares and
// caches every statement (its default exec mode).

const contactColumns = `
  e.email_id, e.primary_email, e.basket_token, e.sfdc_id, e.first_name, e.last_name,
  e.mailing_country, e.email_format, e.email_lang, e.has_opted_out_of_email,
  e.unsubscribe_reason, e.double_opt_in, e.create_timestamp, e.update_timestamp,
  a.id, a.add_on_ids, a.display_name, a.email_opt_in, a.language, a.last_login,
  a.location, a.profile_url, a."user", a.user_id, a.username, a.create_timestamp, a.update_timestamp,
  f.id, f.fxa_id, f.primary_email, f.created_date, f.lang, f.first_service, f.account_deleted,
  m.id, m.mofo_email_id, m.mofo_contact_id, m.mofo_relevant,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', n.name, 'subscribed', n.subscribed, 'format', n.format, 'lang', n.lang,
      'source', n.source, 'unsub_reason', n.unsub_reason,
      'create_timestamp', n.create_timestamp, 'update_timestamp', n.update_timestamp
    ) ORDER BY n.name)
    FROM newsletters n WHERE n.email_id = e.email_id
  ), '[]')::json,
  coalesce((
    SELECT json_agg(json_build_object(
      'name', w.name, 'source', w.source, 'fields', w.fields, 'subscribed', w.subscribed,
      'unsub_reason', w.unsub_reason,
      'create_timestamp', w.create_timestamp, 'update_timestamp', w.update_timestamp
    ) ORDER BY w.name)
    FROM waitlists w WHERE w.email_id = e.email_id
  ), '[]')::json`

const contactJoins = `
LEFT JOIN amo a ON a.email_id = e.email_id
LEFT JOIN fxa f ON f.email_id = e.email_id
LEFT JOIN mofo m ON m.email_id = e.email_id`

const (
	sqlContactByID    = `SELECT ` + contactColumns + ` FROM emails e ` + contactJoins + ` WHERE e.email_id = $1`
	sqlContactByEmail = `SELECT ` + contactColumns + ` FROM emails e ` + contactJoins + ` WHERE lower(e.primary_email) = lower($1)`

	sqlIdentityByEmail = `SELECT e.email_id, e.primary_email, e.basket_token, e.sfdc_id,
  m.mofo_contact_id, m.mofo_email_id, a.user_id, f.fxa_id, f.primary_email
FROM emails e ` + contactJoins + ` WHERE lower(e.primary_email) = lower($1)`

	// A page of the change feed, keyset on bulk_read_index, whole contacts in one statement.
	sqlUpdatesFirst = `WITH page AS (
  SELECT email_id FROM emails WHERE update_timestamp >= $1 AND update_timestamp < $2
  ORDER BY update_timestamp, email_id LIMIT $3)
SELECT ` + contactColumns + ` FROM page p JOIN emails e ON e.email_id = p.email_id ` + contactJoins + `
ORDER BY e.update_timestamp, e.email_id`
	sqlUpdatesAfter = `WITH page AS (
  SELECT email_id FROM emails WHERE (update_timestamp, email_id) > ($1::timestamptz, $2::uuid) AND update_timestamp < $3
  ORDER BY update_timestamp, email_id LIMIT $4)
SELECT ` + contactColumns + ` FROM page p JOIN emails e ON e.email_id = p.email_id ` + contactJoins + `
ORDER BY e.update_timestamp, e.email_id`

	sqlInsertEmail = `INSERT INTO emails (email_id, primary_email, first_name, mailing_country, email_lang,
  email_format, has_opted_out_of_email, double_opt_in) VALUES ($1, $2, $3, $4, $5, 'H', false, false)`

	sqlUpsertEmail = `INSERT INTO emails (email_id, primary_email, basket_token, sfdc_id, first_name, last_name,
  mailing_country, email_format, email_lang, has_opted_out_of_email, unsubscribe_reason, double_opt_in)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'H', $8, $9, NULL, $10)
ON CONFLICT (email_id) DO UPDATE SET
  primary_email = excluded.primary_email, basket_token = excluded.basket_token, sfdc_id = excluded.sfdc_id,
  first_name = excluded.first_name, last_name = excluded.last_name, mailing_country = excluded.mailing_country,
  email_format = excluded.email_format, email_lang = excluded.email_lang,
  has_opted_out_of_email = excluded.has_opted_out_of_email, unsubscribe_reason = excluded.unsubscribe_reason,
  double_opt_in = excluded.double_opt_in, update_timestamp = now()`

	sqlUpsertNewsletters = `INSERT INTO newsletters (email_id, name, subscribed, format, lang, source)
SELECT $1, x.name, x.subscribed, 'H', $4, x.source FROM unnest($2::text[], $3::bool[], $5::text[]) AS x(name, subscribed, source)
ON CONFLICT (email_id, name) DO UPDATE SET subscribed = excluded.subscribed, format = excluded.format,
  lang = excluded.lang, source = excluded.source, unsub_reason = excluded.unsub_reason, update_timestamp = now()`
	sqlDeleteOtherNewsletters = `DELETE FROM newsletters WHERE email_id = $1 AND NOT (name = ANY($2::text[]))`

	sqlUpsertWaitlists = `INSERT INTO waitlists (email_id, name, source, fields, subscribed)
SELECT $1, x.name, x.source, x.fields::json, true FROM unnest($2::text[], $3::text[], $4::text[]) AS x(name, source, fields)
ON CONFLICT (email_id, name) DO UPDATE SET source = excluded.source, fields = excluded.fields,
  subscribed = excluded.subscribed, unsub_reason = excluded.unsub_reason, update_timestamp = now()`
	sqlDeleteOtherWaitlists = `DELETE FROM waitlists WHERE email_id = $1 AND NOT (name = ANY($2::text[]))`

	sqlUpsertAmo = `INSERT INTO amo (email_id, add_on_ids, display_name, email_opt_in, language, last_login,
  location, profile_url, "user", user_id, username) VALUES ($1, $2, $3, true, $4, $5, $6, $7, true, $8, $9)
ON CONFLICT (email_id) DO UPDATE SET add_on_ids = excluded.add_on_ids, display_name = excluded.display_name,
  email_opt_in = excluded.email_opt_in, language = excluded.language, last_login = excluded.last_login,
  location = excluded.location, profile_url = excluded.profile_url, "user" = excluded."user",
  user_id = excluded.user_id, username = excluded.username, update_timestamp = now()`
	sqlUpsertFxa = `INSERT INTO fxa (email_id, fxa_id, primary_email, created_date, lang, first_service, account_deleted)
VALUES ($1, $2, $3, $4, $5, $6, false)
ON CONFLICT (email_id) DO UPDATE SET fxa_id = excluded.fxa_id, primary_email = excluded.primary_email,
  created_date = excluded.created_date, lang = excluded.lang, first_service = excluded.first_service,
  account_deleted = excluded.account_deleted, update_timestamp = now()`
	sqlUpsertMofo = `INSERT INTO mofo (email_id, mofo_email_id, mofo_contact_id, mofo_relevant) VALUES ($1, $2, $3, $4)
ON CONFLICT (email_id) DO UPDATE SET mofo_email_id = excluded.mofo_email_id,
  mofo_contact_id = excluded.mofo_contact_id, mofo_relevant = excluded.mofo_relevant, update_timestamp = now()`

	sqlPatchNewsletter = `INSERT INTO newsletters (email_id, name, subscribed, format, lang) VALUES ($1, $2, $3, 'H', 'en')
ON CONFLICT (email_id, name) DO UPDATE SET subscribed = excluded.subscribed, update_timestamp = now()`

	// Children first: the foreign keys have no ON DELETE action.
	sqlDeleteChildrenByEmail = `WITH t AS (SELECT email_id FROM emails WHERE lower(primary_email) = lower($1)),
  a AS (DELETE FROM amo WHERE email_id IN (SELECT email_id FROM t)),
  m AS (DELETE FROM mofo WHERE email_id IN (SELECT email_id FROM t)),
  n AS (DELETE FROM newsletters WHERE email_id IN (SELECT email_id FROM t)),
  w AS (DELETE FROM waitlists WHERE email_id IN (SELECT email_id FROM t))
DELETE FROM fxa WHERE email_id IN (SELECT email_id FROM t)`
)

// contactRow receives one contact as the ceiling reads it: typed columns, the lists as
// raw JSON (not decoded: no JSON work on the client).
type contactRow struct {
	emailID                                                   uuid.UUID
	primaryEmail                                              string
	basketToken, sfdcID, firstName, lastName, country         *string
	emailFormat, emailLang                                    *string
	optedOut                                                  *bool
	unsubReason                                               *string
	doubleOptIn                                               *bool
	created, updated                                          time.Time
	amoID                                                     *int32
	amoAddOnIDs, amoDisplayName                               *string
	amoOptIn                                                  *bool
	amoLanguage                                               *string
	amoLastLogin                                              *time.Time
	amoLocation, amoProfileURL                                *string
	amoUser                                                   *bool
	amoUserID, amoUsername                                    *string
	amoCreated, amoUpdated                                    *time.Time
	fxaRowID                                                  *int32
	fxaID, fxaEmail, fxaCreatedDate, fxaLang, fxaFirstService *string
	fxaDeleted                                                *bool
	mofoRowID                                                 *int32
	mofoEmailID, mofoContactID                                *string
	mofoRelevant                                              *bool
	newsletters, waitlists                                    []byte
}

func (c *contactRow) targets() []any {
	return []any{&c.emailID, &c.primaryEmail, &c.basketToken, &c.sfdcID, &c.firstName, &c.lastName,
		&c.country, &c.emailFormat, &c.emailLang, &c.optedOut, &c.unsubReason, &c.doubleOptIn, &c.created, &c.updated,
		&c.amoID, &c.amoAddOnIDs, &c.amoDisplayName, &c.amoOptIn, &c.amoLanguage, &c.amoLastLogin,
		&c.amoLocation, &c.amoProfileURL, &c.amoUser, &c.amoUserID, &c.amoUsername, &c.amoCreated, &c.amoUpdated,
		&c.fxaRowID, &c.fxaID, &c.fxaEmail, &c.fxaCreatedDate, &c.fxaLang, &c.fxaFirstService, &c.fxaDeleted,
		&c.mofoRowID, &c.mofoEmailID, &c.mofoContactID, &c.mofoRelevant, &c.newsletters, &c.waitlists}
}

func scanContacts(rows pgx.Rows) (int, error) {
	defer rows.Close()
	var c contactRow
	targets := c.targets()
	n := 0
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// expectContacts checks that a contact query returned want contacts.
func expectContacts(rows pgx.Rows, err error) func(want int) error {
	return func(want int) error {
		if err != nil {
			return err
		}
		n, err := scanContacts(rows)
		if err == nil && n != want {
			err = fmt.Errorf("%d contacts, want %d", n, want)
		}
		return err
	}
}

func scanIdentities(rows pgx.Rows) (int, error) {
	defer rows.Close()
	var (
		id                                                           uuid.UUID
		email                                                        string
		token, sfdc, mofoContact, mofoEmail, amoUser, fxaID, fxaMail *string
	)
	n := 0
	for rows.Next() {
		if err := rows.Scan(&id, &email, &token, &sfdc, &mofoContact, &mofoEmail, &amoUser, &fxaID, &fxaMail); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
