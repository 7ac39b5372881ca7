package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The ceiling's SQL: the least the database must do to produce what each operation
// returns. Reads are one statement returning whole contacts (the e-mail row, its groups
// by LEFT JOIN and its lists aggregated as JSON), as sql/queries/contacts.sql's
// ContactsGetByIDs does; it is kept here as a fixed reference, independent of the
// server's queries, so optimising the server does not move the ceiling. Writes are one
// pipeline (one round trip, one implicit transaction: a single Sync). pgbench runs it
// with -M prepared (every statement parsed and planned once per connection); the
// parameters become pgbench expressions (bind, below).

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

// pgbench spellings of the seeded contacts' identifiers (seed.go): :n is the index.
const (
	idExpr    = `('` + idPrefix + `' || lpad(to_hex(:n::bigint), 12, '0'))::uuid`
	tokenExpr = `('` + tokenPrefix + `' || lpad(to_hex(:n::bigint), 12, '0'))`
	emailExpr = `('bench' || :n::bigint || '@example.com')`
)

// bind replaces $1… in sql by the pgbench expressions args (a literal must not hold a
// colon followed by a letter or digit: pgbench would read a variable there).
func bind(sql string, args ...string) string {
	for k := len(args); k >= 1; k-- { // $10 before $1
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(k), "("+args[k-1]+")")
	}
	return strings.TrimSpace(sql) + ";\n"
}

// pipeline wraps statements into one pgbench pipeline.
func pipeline(stmts ...string) string {
	return "\\startpipeline\n" + strings.Join(stmts, "") + "\\endpipeline\n"
}

// sqlList is an SQL array of quoted strings.
func sqlList(items ...string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return "ARRAY[" + strings.Join(q, ", ") + "]"
}

// pgbenchParams are the values the scripts need (pgbench variables set with -D).
type pgbenchParams struct {
	readable int
	postBase int // first index of the contacts the ceiling's POST creates
	delBase  int
	delSize  int
	clients  int
}

func (p pgbenchParams) defines() []string {
	return []string{"-D", "seq=0", "-D", "readable=" + strconv.Itoa(p.readable), "-D", "postbase=" + strconv.Itoa(p.postBase),
		"-D", "delbase=" + strconv.Itoa(p.delBase), "-D", "clients=" + strconv.Itoa(p.clients)}
}

const (
	pickReadable = "\\set n random(0, :readable - 1)\n"
	// Each client takes its own indexes in turn (variables persist across a client's transactions).
	pickNext   = "\\set seq :seq + 1\n"
	pickPost   = pickNext + "\\set n :postbase + :client_id + :clients * (:seq - 1)\n"
	pickDelete = pickNext + "\\set n :delbase + :client_id + :clients * (:seq - 1)\n"
)

var (
	pgbenchFailedRE   = regexp.MustCompile(`number of failed transactions: (\d+)`)
	pgbenchDoneRE     = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	pgbenchLatencyRE  = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
	pgbenchTPSRE      = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	pgbenchAbortRE    = regexp.MustCompile(`(?m)^.*client \d+ (script \d+ )?aborted.*$`)
	pgbenchProgressRE = regexp.MustCompile(`^progress: ([0-9.]+) s, ([0-9.]+) tps`)
)

// runPgbench runs script for d at p.clients connections and parses pgbench's summary.
// Its 64 connections (a backend forked, statements prepared on first use) cost
// PostgreSQL CPU that the service's long-lived pool does not pay during its run: mark is
// called with pgbench's pid at its first progress report (1 s in), where the CPU window
// then starts, and the transactions before it are r.skipped.
func runPgbench(ctx context.Context, pgbench, dbURL, script string, p pgbenchParams, threads int, d time.Duration, mark func(pid int)) (loadResult, error) {
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(p.clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(int(d / time.Second)), "-P", "1", "-f", script}
	args = append(append(args, p.defines()...), dbURL)
	cmd := exec.CommandContext(ctx, pgbench, args...) // #nosec G204 -- the benchmark's own arguments
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	var skipped int
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		marked := false
		for sc.Scan() {
			line := sc.Text()
			if m := pgbenchProgressRE.FindStringSubmatch(line); m != nil && !marked && mark != nil {
				mark(cmd.Process.Pid)
				marked = true
				at, _ := strconv.ParseFloat(m[1], 64)
				tps, _ := strconv.ParseFloat(m[2], 64)
				skipped = int(at*tps + 0.5)
			}
			out.WriteString(line + "\n")
		}
	}()
	runErr := cmd.Run() // exit status 2: some clients aborted; the summary still counts the rest
	_ = pw.Close()      // ends the scanner
	<-scanned
	r, ok := parsePgbench(out.String())
	if !ok {
		return r, fmt.Errorf("pgbench: %v\n%s", runErr, out.String())
	}
	r.loadgen = childCPU(cmd)
	r.skipped = min(skipped, r.done)
	return r, nil
}

// parsePgbench reads pgbench's summary; false when it printed none.
func parsePgbench(text string) (loadResult, bool) {
	var r loadResult
	m := pgbenchDoneRE.FindStringSubmatch(text)
	if m == nil {
		return r, false
	}
	r.done, _ = strconv.Atoi(m[1])
	if m := pgbenchFailedRE.FindStringSubmatch(text); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	if aborts := pgbenchAbortRE.FindAllString(text, -1); len(aborts) > 0 {
		r.errors += len(aborts)
		r.firstErr = strings.TrimSpace(aborts[0])
	} else if strings.Contains(text, "Run was aborted") {
		r.errors++
		r.firstErr = "pgbench: run was aborted"
	}
	if m := pgbenchLatencyRE.FindStringSubmatch(text); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		r.avg = time.Duration(ms * float64(time.Millisecond))
	}
	if m := pgbenchTPSRE.FindStringSubmatch(text); m != nil {
		r.rate, _ = strconv.ParseFloat(m[1], 64)
	}
	if r.rate > 0 {
		r.seconds = float64(r.done) / r.rate
	}
	return r, true
}
