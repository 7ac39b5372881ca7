package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// A consumer that keeps paging /updates with its cursor sees every committed
// change, also one whose transaction started before the consumer's page and
// committed after it (its update_timestamp lies behind rows already served).
func TestUpdatesDoNotLoseSlowWrites(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a := newAPIOn(t, pool) // its own database: no other test's writes in the feed
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)

	_, first := newContact()
	firstID := a.create(first)["email"].(map[string]any)["email_id"].(string)

	// A slow write: its transaction starts now, so its row's update_timestamp is now...
	slowID := uuid.NewString()
	tx, err := pool.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	_, err = tx.Exec(context.Background(), `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, slowID, newEmail())
	require.NoError(t, err)

	// ...while a faster write commits a later timestamp.
	time.Sleep(20 * time.Millisecond)
	_, fast := newContact()
	fastID := a.create(fast)["email"].(map[string]any)["email_id"].(string)

	seen := map[string]int{}
	var cursor string
	page := func() {
		q := url.Values{"start": {start}, "limit": {"1"}}
		if cursor != "" {
			q.Set("after", cursor)
		}
		for {
			r := a.do("GET", "/updates?"+q.Encode(), nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			body := r.Object(t)
			for _, it := range body["items"].([]any) {
				seen[it.(map[string]any)["email"].(map[string]any)["email_id"].(string)]++
			}
			after, _ := body["after"].(string)
			if after == "" {
				return
			}
			cursor = after
			q.Set("after", after)
		}
	}
	page() // while the slow write is in flight
	require.Equal(t, 1, seen[firstID])
	require.Zero(t, seen[fastID], "the feed must stop before the oldest in-flight write")

	require.NoError(t, tx.Commit(context.Background()))
	page() // the consumer goes on from its cursor
	require.Equal(t, map[string]int{firstID: 1, slowID: 1, fastID: 1}, seen, "every write seen exactly once")
}

// leastPrivilege serves the API as a role with table privileges only (no superuser,
// no pg_read_all_stats: pg_stat_activity hides other roles' xact_start from it) on a
// database of its own, and returns a connection of another such role, as psql would be.
func leastPrivilege(t *testing.T) (*apiTest, *pgx.Conn) {
	ctx := context.Background()
	dbURL := testdb.NewDatabase(t)
	admin, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	serviceRole, writerRole := "ctms_service_"+suffix, "ctms_writer_"+suffix
	for _, role := range []string{serviceRole, writerRole} {
		ident := pgx.Identifier{role}.Sanitize()
		for _, stmt := range []string{
			"CREATE ROLE " + ident + " LOGIN",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + ident,
			"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + ident,
		} {
			_, err := admin.Exec(ctx, stmt)
			require.NoError(t, err, stmt)
		}
		t.Cleanup(func() { // roles outlive databases: drop them (before the pools close: LIFO)
			_, _ = admin.Exec(ctx, "DROP OWNED BY "+ident)
			_, _ = admin.Exec(ctx, "DROP ROLE "+ident)
		})
	}
	connAs := func(role, app string) *pgx.ConnConfig {
		cfg, err := pgx.ParseConfig(dbURL)
		require.NoError(t, err)
		cfg.User = role
		cfg.RuntimeParams["timezone"] = "UTC"
		cfg.RuntimeParams["application_name"] = app
		return cfg
	}
	pc, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	pc.ConnConfig = connAs(serviceRole, "ctms") // as cmd/ctms/pool.go
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	writer, err := pgx.ConnectConfig(ctx, connAs(writerRole, "psql"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = writer.Close(ctx) })
	return newAPIOn(t, pool), writer
}

// The same, with the service running as a role that has table privileges only
// (neither superuser nor member of pg_read_all_stats: pg_stat_activity hides
// other roles' xact_start from it) and the slow write made by another role
// (psql, a Python CTMS): the guard reads pg_locks, which no role is denied.
func TestUpdatesDoNotLoseSlowWritesLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, writer := leastPrivilege(t)
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)

	_, first := newContact()
	firstID := a.create(first)["email"].(map[string]any)["email_id"].(string)
	optID, opt := newContact()
	a.create(opt)

	// A slow write by another role, as psql would make it, and in the same
	// transaction the opt-out statement of `ctms optout import`.
	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	slowID := uuid.NewString()
	_, err = tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, slowID, newEmail())
	require.NoError(t, err)
	optout, err := db.New().OptoutApplyBatch(ctx, tx, db.OptoutApplyBatchParams{
		LineNos: []int64{1}, Emails: []string{opt["email"].(obj)["primary_email"].(string)}, Reasons: []string{"Bounce"}})
	require.NoError(t, err)
	require.Equal(t, int64(1), optout.ContactsUpdated)
	var hidden bool
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT xact_start IS NULL FROM pg_stat_activity WHERE pid = $1`,
		writer.PgConn().PID()).Scan(&hidden))
	require.True(t, hidden, "the service role must not see the writer's xact_start (else this test proves nothing)")

	time.Sleep(20 * time.Millisecond)
	_, fast := newContact()
	fastID := a.create(fast)["email"].(map[string]any)["email_id"].(string)

	// A consumer follows `next` from its first page to the end of its window,
	// then starts its next window where that one ended.
	seen := map[string]int{}
	follow := func(path string) (end string) {
		for path != "" {
			r := a.do("GET", path, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			body := r.Object(t)
			for _, it := range body["items"].([]any) {
				seen[it.(map[string]any)["email"].(map[string]any)["email_id"].(string)]++
			}
			end = body["end"].(string)
			next, _ := body["next"].(string)
			path = strings.TrimPrefix(next, a.cfg.ServerPrefix)
		}
		return end
	}
	end := follow("/updates?" + url.Values{"start": {start}, "limit": {"1"}}.Encode())
	require.Equal(t, map[string]int{firstID: 1, optID: 1}, seen)
	require.Zero(t, seen[fastID], "the window must end before the oldest in-flight write")

	require.NoError(t, tx.Commit(ctx))
	follow("/updates?" + url.Values{"start": {end}, "limit": {"1"}}.Encode())
	require.Equal(t, map[string]int{firstID: 1, optID: 2, slowID: 1, fastID: 1}, seen,
		"every write seen exactly once (the opted-out contact once created, once opted out)")
}

// windowConsumer reads a feed ("/updates" or "/deletions") window after window,
// following `next` to each window's end, as a downstream sync job does: a window
// starts where the last one ended, never earlier (it never asks twice for what it
// was served), and seen counts each contact (or tombstone) served.
type windowConsumer struct {
	a    *apiTest
	path string
	from time.Time
	seen map[string]int
}

func (a *apiTest) consumer(path string, from time.Time) *windowConsumer {
	return &windowConsumer{a: a, path: path, from: from, seen: map[string]int{}}
}

// window reads one window, from c.from to the server's default end.
func (c *windowConsumer) window() {
	a := c.a
	a.t.Helper()
	path := c.path + "?" + url.Values{"start": {c.from.Format(time.RFC3339Nano)}, "limit": {"1"}}.Encode()
	var end string
	for path != "" {
		r := a.do("GET", path, nil)
		require.Equal(a.t, http.StatusOK, r.Status, "%s", r.Body)
		body := r.Object(a.t)
		for _, it := range body["items"].([]any) {
			item := it.(map[string]any)
			if email, ok := item["email"].(map[string]any); ok {
				item = email
			}
			c.seen[item["email_id"].(string)]++
		}
		end = body["end"].(string)
		next, _ := body["next"].(string)
		path = strings.TrimPrefix(next, a.cfg.ServerPrefix)
	}
	t, err := time.Parse(time.RFC3339Nano, end)
	require.NoError(a.t, err, end)
	if t.After(c.from) {
		c.from = t
	}
}

// A transaction that reads first and writes later (BEGIN; SELECT; ...; UPDATE;
// COMMIT), as the Python CTMS and psql sessions do, by another role than the
// service's: its rows must not land behind a window a consumer has finished,
// although nothing marked the transaction while the consumer paged (it had not
// written yet) and its now() is earlier than the rows the consumer was served.
func TestUpdatesDoNotLoseReadThenWriteLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, writer := leastPrivilege(t)
	c := a.consumer("/updates", time.Now().UTC().Add(-time.Second))
	_, first := newContact()
	firstID := a.create(first)["email"].(map[string]any)["email_id"].(string)
	_, changed := newContact()
	changedID := a.create(changed)["email"].(map[string]any)["email_id"].(string)

	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM emails`).Scan(&n)) // now() is fixed here
	time.Sleep(50 * time.Millisecond)
	_, fast := newContact()
	fastID := a.create(fast)["email"].(map[string]any)["email_id"].(string)

	c.window()
	require.Equal(t, map[string]int{firstID: 1, changedID: 1, fastID: 1}, c.seen, "nothing in flight yet")

	// The late writes, as the Python CTMS makes them (update_timestamp = now(), DEFAULT now()).
	_, err = tx.Exec(ctx, `UPDATE emails SET first_name = 'Late', update_timestamp = now() WHERE email_id = $1`, changedID)
	require.NoError(t, err)
	slowID := uuid.NewString()
	_, err = tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, slowID, newEmail())
	require.NoError(t, err)
	c.window()
	require.Equal(t, map[string]int{firstID: 1, changedID: 1, fastID: 1}, c.seen, "uncommitted: nothing new")

	require.NoError(t, tx.Commit(ctx))
	c.window()
	require.Equal(t, map[string]int{firstID: 1, changedID: 2, fastID: 1, slowID: 1}, c.seen,
		"every write seen (the changed contact once created, once changed)")
}

// The same for /deletions: a deleting transaction that read first.
func TestDeletionsDoNotLoseReadThenDeleteLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, writer := leastPrivilege(t)
	c := a.consumer("/deletions", time.Now().UTC().Add(-time.Second))
	created := func() (string, string) {
		_, body := newContact()
		return a.create(body)["email"].(map[string]any)["email_id"].(string), body["email"].(obj)["primary_email"].(string)
	}
	firstID, first := created()
	slowID, slow := created()
	fastID, fast := created()
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(first), nil).Status)

	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var id string
	require.NoError(t, tx.QueryRow(ctx, `SELECT email_id::text FROM emails WHERE lower(primary_email) = lower($1)`, slow).Scan(&id))
	require.Equal(t, slowID, id)
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(fast), nil).Status)

	c.window()
	require.Equal(t, map[string]int{firstID: 1, fastID: 1}, c.seen, "nothing in flight yet")

	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists", "emails"} {
		_, err = tx.Exec(ctx, `DELETE FROM `+table+` WHERE email_id = $1`, slowID)
		require.NoError(t, err, table)
	}
	c.window()
	require.Equal(t, map[string]int{firstID: 1, fastID: 1}, c.seen, "uncommitted: nothing new")

	require.NoError(t, tx.Commit(ctx))
	c.window()
	require.Equal(t, map[string]int{firstID: 1, fastID: 1, slowID: 1}, c.seen, "every deletion seen exactly once")
}

// An in-flight write holds the feeds' default end back for at most
// CTMS_FEED_MAX_WRITE_WAIT, and ctms_feed_oldest_write_age_seconds shows how long
// it has been held, before and past that bound, and 0 once it has ended.
func TestFeedsWaitForAWriteUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	const bound = 1500 * time.Millisecond
	m := obs.NewMetrics()
	a := newAPIWith(t, pool, func(c *config.Config) { c.FeedMaxWriteWait = bound }, httpapi.WithMetrics(m))
	o := &observedAPI{apiTest: a, metrics: m} // its own database: no other test's writes
	age := func() float64 {
		v, ok := sample(o.families(t), "ctms_feed_oldest_write_age_seconds", map[string]string{})
		require.True(t, ok, "ctms_feed_oldest_write_age_seconds is exported")
		return v
	}
	end := func(feed string) time.Time {
		r := a.do("GET", feed+"?start=2020-01-01", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		e, err := time.Parse(time.RFC3339Nano, r.Object(t)["end"].(string))
		require.NoError(t, err)
		return e
	}
	require.Zero(t, age(), "no write in flight")

	// A write left open (a psql session), and its write time.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // rolled back below
	_, err = tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, uuid.NewString(), newEmail())
	require.NoError(t, err)
	var written time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT public.ctms_write_time()`).Scan(&written))

	for _, feed := range []string{"/updates", "/deletions"} {
		e := end(feed)
		require.False(t, e.After(written), "%s ends at %s, after the write time %s", feed, e, written)
		require.Less(t, written.Sub(e), 100*time.Millisecond, "%s ends at the write's marker, just before its write time", feed)
	}
	held := age()
	require.Greater(t, held, 0.0)
	require.Less(t, held, bound.Seconds())

	time.Sleep(time.Until(written.Add(bound + 100*time.Millisecond)))
	for _, feed := range []string{"/updates", "/deletions"} {
		require.True(t, end(feed).After(written.Add(bound)), "%s no longer waits for a write older than the bound", feed)
	}
	require.GreaterOrEqual(t, age(), bound.Seconds(), "the metric shows it past the bound")

	require.NoError(t, tx.Rollback(ctx))
	require.Zero(t, age(), "nothing in flight")
}

// One write, one time, also now that the time is the transaction's write time
// (sql/migrations/00007_write_time.sql) rather than its start: every row a POST,
// PUT or PATCH creates or changes carries the same timestamp (a new row's
// create_timestamp too), the rows it leaves alone keep theirs, and the response
// shows what is stored.
func TestOneWriteOneTime(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	u := id[:8]
	body["amo"] = obj{"display_name": "A" + u}
	body["fxa"] = obj{"fxa_id": "fxa" + u, "primary_email": newEmail()}
	body["mofo"] = obj{"mofo_email_id": "me" + u, "mofo_contact_id": "mc" + u, "mofo_relevant": true}
	body["newsletters"] = arr{obj{"name": "alpha"}, obj{"name": "beta"}}
	body["waitlists"] = arr{obj{"name": "vpn", "fields": obj{"geo": "fr"}}}
	type stamp struct{ created, updated time.Time }
	stored := func() map[string]stamp {
		rows, err := a.pool.Query(context.Background(), `
			SELECT 'emails', create_timestamp, update_timestamp FROM emails WHERE email_id = $1
			UNION ALL SELECT 'amo', create_timestamp, update_timestamp FROM amo WHERE email_id = $1
			UNION ALL SELECT 'fxa', create_timestamp, update_timestamp FROM fxa WHERE email_id = $1
			UNION ALL SELECT 'mofo', create_timestamp, update_timestamp FROM mofo WHERE email_id = $1
			UNION ALL SELECT 'newsletter ' || name, create_timestamp, update_timestamp FROM newsletters WHERE email_id = $1
			UNION ALL SELECT 'waitlist ' || name, create_timestamp, update_timestamp FROM waitlists WHERE email_id = $1`, id)
		require.NoError(t, err)
		out := map[string]stamp{}
		for rows.Next() {
			var name string
			var s stamp
			require.NoError(t, rows.Scan(&name, &s.created, &s.updated))
			out[name] = s
		}
		require.NoError(t, rows.Err())
		return out
	}
	shows := func(r *response, s map[string]stamp) {
		t.Helper()
		got, err := time.Parse(time.RFC3339Nano, at(t, r.Object(t), "email", "update_timestamp").(string))
		require.NoError(t, err)
		require.True(t, got.Equal(s["emails"].updated), "the response shows the stored time")
	}

	r := a.do("POST", "/ctms", body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	posted := stored()
	require.Len(t, posted, 7)
	t1 := posted["emails"].updated
	for name, s := range posted {
		require.Equal(t, stamp{t1, t1}, s, "POST: %s", name)
	}
	shows(r, posted)

	body["newsletters"] = arr{obj{"name": "alpha"}, obj{"name": "beta", "format": "T"}, obj{"name": "gamma"}}
	r = a.do("PUT", "/ctms/"+id, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	put := stored()
	t2 := put["emails"].updated
	require.True(t, t2.After(t1))
	for name, s := range put {
		want := stamp{t1, t2} // replaced: written again, created before
		if name == "newsletter gamma" {
			want = stamp{t2, t2}
		}
		require.Equal(t, want, s, "PUT: %s", name)
	}
	shows(r, put)

	r = a.do("PATCH", "/ctms/"+id, obj{"amo": obj{"display_name": "B" + u},
		"newsletters": arr{obj{"name": "alpha", "subscribed": false}, obj{"name": "delta"}}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	patched := stored()
	t3 := patched["emails"].updated
	require.True(t, t3.After(t2))
	for name, s := range patched {
		want := put[name] // untouched
		switch name {
		case "emails", "amo", "newsletter alpha":
			want.updated = t3
		case "newsletter delta":
			want = stamp{t3, t3}
		}
		require.Equal(t, want, s, "PATCH: %s", name)
	}
	shows(r, patched)
}
