package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idSet is a set of email ids safe for concurrent use.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func newIDSet() idSet { return idSet{ids: map[string]bool{}} }

func (s *idSet) add(id string) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

func (s *idSet) all() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.ids))
	for k := range s.ids {
		out[k] = true
	}
	return out
}

// backfillSQL inserts contacts 1..$1: about a third with an fxa account (a few of those
// without fxa_id, some deleted), newsletters and waitlists (mapped and not, subscribed
// and not), and every email field set on some, null on others. The timestamps are in the
// past, as in a database that existed before `ctms sync`.
const backfillSQL = `
WITH g AS (
  SELECT i, {{id}} AS id,
         now() - interval '400 days' + i * interval '1 second' AS created
  FROM generate_series(1, $1::int) AS i)
INSERT INTO emails (email_id, primary_email, basket_token, first_name, last_name, mailing_country,
  email_format, email_lang, has_opted_out_of_email, unsubscribe_reason, create_timestamp,
  update_timestamp, double_opt_in)
SELECT id, 'c' || i || '@example.com',
  CASE WHEN i % 5 <> 0 THEN md5('bt-' || i)::uuid::text END,
  CASE WHEN i % 3 <> 0 THEN 'First' || i END,
  CASE WHEN i % 4 <> 0 THEN 'Last' || i END,
  (ARRAY['us', 'fr', 'de', 'gb', NULL])[1 + i % 5],
  'H',
  (ARRAY['en', 'fr', 'de', 'es', NULL])[1 + (i / 7) % 5],
  i % 17 = 0,
  CASE WHEN i % 17 = 0 THEN 'too many emails' END,
  created, created + (i % 1000) * interval '1 minute',
  i % 2 = 0
FROM g;

INSERT INTO newsletters (email_id, name, subscribed, format, lang, source)
SELECT {{id}}, n.name, (i + n.k) % 5 <> 0, 'H', 'en', 'https://www.mozilla.org/'
FROM generate_series(1, $1::int) AS i,
     unnest(ARRAY['mozilla-and-you', 'mozilla-foundation', 'firefox-news', 'knowledge-is-power',
                  'about-mozilla', 'mdnplus']) WITH ORDINALITY AS n(name, k)
WHERE (i * 7919 + n.k * 104729) % 3 = 0;

INSERT INTO waitlists (email_id, name, source, fields, subscribed)
SELECT {{id}}, w.name, 'https://www.mozilla.org/', '{"geo": "fr"}', (i + w.k) % 6 <> 0
FROM generate_series(1, $1::int) AS i,
     unnest(ARRAY['vpn', 'relay', 'monitor']) WITH ORDINALITY AS w(name, k)
WHERE (i * 31 + w.k * 17) % 4 = 0;

INSERT INTO fxa (fxa_id, email_id, primary_email, created_date, lang, first_service, account_deleted)
SELECT CASE WHEN i % 3 = 0 THEN md5('fxa-' || i) END, {{id}},
  'c' || i || '@fxa.example.com',
  to_char(now() - interval '300 days' + i * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
  'en,fr', 'sync', i % 30 = 0
FROM generate_series(1, $1::int) AS i
WHERE i % 3 = 0 OR i % 23 = 0;
ANALYZE;
`

// backfillContact is one backfilled contact as the writers know it.
type backfillContact struct {
	i        int
	id       string
	email    string
	hasFxaID bool
}

// backfill inserts the contacts, starts the two replicas and waits until the syncer has
// pushed them all.
func (d *drill) backfill(ctx context.Context, r *report) error {
	t0 := time.Now()
	// One statement per round trip: pgx sends a multi-statement string only without parameters.
	// The API takes only version 4 UUIDs: md5 with the version and variant digits set.
	script := strings.ReplaceAll(backfillSQL, "{{id}}", "overlay(overlay(md5('synctest-' || i) placing '4' from 13) placing '8' from 17)::uuid")
	for _, stmt := range strings.Split(strings.TrimSpace(script), ";\n") {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" {
			continue
		}
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, d.o.contacts)
		}
		if _, err := d.pool.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
	}
	rows, err := d.pool.Query(ctx, `SELECT email_id::text, primary_email, EXISTS (SELECT 1 FROM fxa f WHERE f.email_id = e.email_id AND f.fxa_id IS NOT NULL) FROM emails e`)
	if err != nil {
		return err
	}
	d.backfilled = make([]backfillContact, d.o.contacts+1)
	for rows.Next() {
		var c backfillContact
		if err := rows.Scan(&c.id, &c.email, &c.hasFxaID); err != nil {
			return err
		}
		c.i, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(c.email, "c"), "@example.com"))
		d.backfilled[c.i] = c
		d.created.add(c.id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.backfillInsert = time.Since(t0)
	logf("backfill: %d contacts inserted by SQL in %.1f s; starting two ctms sync replicas", d.o.contacts, r.backfillInsert.Seconds())

	r.syncStart = time.Now()
	for range 2 {
		if _, err := d.startReplica(); err != nil {
			return err
		}
	}
	if _, _, err := d.waitLeader(ctx, nil, 30*time.Second); err != nil {
		return err
	}
	took, err := d.waitCaughtUp(ctx, 10*time.Minute)
	if err != nil {
		return err
	}
	logf("backfill: the syncer caught up after %.1f s", time.Since(r.syncStart).Seconds())
	_ = took
	return nil
}
