package httpapi_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
)

// testHashKey is the deletion hash key of this package's databases (keyed installs it).
const testHashKey = "httpapi-test-deletion-hash-key-0123456789"

// keyed installs testHashKey in the database of pool, as `ctms migrate` installs
// CTMS_DELETION_HASH_KEY (the same key again changes nothing).
func keyed(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	// As the owner: pool may be a least-privilege role's, which cannot install keys.
	cfg, err := pgx.ParseConfig(testdb.AdminURL(t))
	require.NoError(t, err)
	cfg.Database = pool.Config().ConnConfig.Database
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(t.Context(), `SELECT ctms_deletion_hash_key_set($1)`, []byte(testHashKey))
	require.NoError(t, err)
}

// mac is what a tombstone holds for an address, as a consumer of /deletions computes it
// (docs/deployment.md#deletion-hash-key): hex HMAC-SHA256 under the key of the address
// with ASCII letters lower-cased.
func mac(email string) string {
	m := hmac.New(sha256.New, []byte(testHashKey))
	m.Write([]byte(strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, email)))
	return hex.EncodeToString(m.Sum(nil))
}

// deletionsPage is a decoded /deletions answer.
type deletionsPage struct {
	raw   map[string]any
	items []map[string]any
	after any
	next  any
}

// deletions GETs /deletions?query, requires 200, the field order of /updates and no
// "@" anywhere in the body (tombstones hold hashes, never addresses).
func (a *apiTest) deletions(query string) deletionsPage {
	a.t.Helper()
	r := a.do("GET", "/deletions?"+query, nil)
	require.Equal(a.t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(a.t, []string{"start", "end", "limit", "after", "next", "items"}, keysOf(a.t, r.Body))
	require.False(a.t, bytes.Contains(r.Body, []byte("@")), "an address in a /deletions response: %s", r.Body)
	p := deletionsPage{raw: r.Object(a.t)}
	p.after, p.next = p.raw["after"], p.raw["next"]
	for i, it := range p.raw["items"].([]any) {
		require.Equal(a.t, []string{"email_id", "deleted_at", "primary_email_hmac", "fxa_primary_email_hmac", "deleted_by"},
			keysOf(a.t, member(a.t, r.Body, "items", i)))
		p.items = append(p.items, it.(map[string]any))
	}
	return p
}

// tombstonesOf pages /deletions over [start, end) and returns the items of the given
// contacts (other tests delete contacts in the same database at the same time).
func (a *apiTest) tombstonesOf(start, end time.Time, ids ...string) []map[string]any {
	a.t.Helper()
	var out []map[string]any
	query := "start=" + iso(start) + "&end=" + iso(end) + "&limit=1000"
	for range 100 {
		p := a.deletions(query)
		for _, it := range p.items {
			if slices.Contains(ids, it["email_id"].(string)) {
				out = append(out, it)
			}
		}
		if p.next == nil {
			return out
		}
		query = strings.TrimPrefix(followDeletions(a.t, p.next), "/deletions?")
	}
	a.t.Fatal("paging does not end")
	return nil
}

// followDeletions turns a /deletions `next` URL into a path on the test server, verbatim.
func followDeletions(t *testing.T, next any) string {
	t.Helper()
	s, ok := next.(string)
	require.True(t, ok, "next is %v", next)
	require.True(t, strings.HasPrefix(s, "http://testserver/deletions?"), s)
	return strings.TrimPrefix(s, "http://testserver")
}

// A contact deleted through the API leaves one tombstone: the keyed hashes of its
// addresses (FxA included), the deleting client, the time of the deletion.
func TestDeletionsAfterAPIDelete(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	keyed(t, a.pool)
	id, body := newContact()
	email := body["email"].(obj)["primary_email"].(string)
	fxaEmail := "FxA." + uuid.NewString() + "@Example.net"
	body["fxa"] = obj{"fxa_id": "fxa-" + id[:8], "primary_email": fxaEmail}
	a.create(body)
	bareID, bare := newContact()
	a.create(bare)

	before := time.Now().UTC().Add(-time.Second)
	r := a.do("DELETE", "/ctms/"+url.PathEscape(email), nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = a.do("DELETE", "/ctms/"+url.PathEscape(bare["email"].(obj)["primary_email"].(string)), nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	after := time.Now().UTC().Add(time.Second)

	got := a.tombstonesOf(before, after, id, bareID)
	require.Len(t, got, 2)
	tomb, bareTomb := got[0], got[1]
	if tomb["email_id"] != id {
		tomb, bareTomb = bareTomb, tomb
	}
	require.Equal(t, id, tomb["email_id"])
	require.Equal(t, mac(email), tomb["primary_email_hmac"])
	require.Equal(t, mac(fxaEmail), tomb["fxa_primary_email_hmac"])
	require.Equal(t, a.clientID, tomb["deleted_by"])
	at, err := time.Parse(time.RFC3339Nano, tomb["deleted_at"].(string))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(tomb["deleted_at"].(string), "Z"), tomb["deleted_at"])
	require.True(t, at.After(before) && at.Before(after), "deleted_at %s", at)

	require.Equal(t, bareID, bareTomb["email_id"])
	require.Equal(t, mac(bare["email"].(obj)["primary_email"].(string)), bareTomb["primary_email_hmac"])
	require.Nil(t, bareTomb["fxa_primary_email_hmac"], "no FxA address: null")
	require.Equal(t, a.clientID, bareTomb["deleted_by"])

	// Nothing of the contact is left but its tombstone, which holds no address.
	a.noRows(id)
	require.Zero(t, a.count(`SELECT count(*) FROM deletion_fxa_pending`), "the FxA hash is kept only until commit")
	require.Zero(t, a.count(`SELECT count(*) FROM deletion_tombstones
		WHERE email_id = $1 AND (primary_email_sha256 LIKE '%@%' OR deleted_by LIKE '%@%')`, id))
}

// Deletions by any other writer (psql, a Python CTMS sharing the database) leave
// tombstones too, marked "database" — also for a role with only the Python
// CTMS's privileges, which has none on the tombstone tables, and which cannot
// name another deleter with ctms.deleted_by (only the CTMS service's and admin
// roles can: sql/migrations/00008_database_hardening.sql).
func TestDeletionsBySQL(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	keyed(t, a.pool)
	ctx := context.Background()
	ids := []string{uuid.NewString(), uuid.NewString()}
	emails := []string{newEmail(), newEmail()}
	fxaEmail := newEmail()
	insert := func(i int) {
		a.exec(`INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, ids[i], emails[i])
		a.exec(`INSERT INTO fxa (email_id, fxa_id, primary_email) VALUES ($1, $2, $3)`, ids[i], "fxa-"+ids[i], fxaEmail)
	}
	// As the Python CTMS deletes: children first, then the contact, in one transaction;
	// the second writer also tries to pass its deletion off as an API client's.
	deleteAs := func(pool *pgxpool.Pool, i int) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
		if i == 1 {
			_, err = tx.Exec(ctx, `SELECT set_config('ctms.deleted_by', 'id_forged', true)`)
			require.NoError(t, err)
		}
		for _, stmt := range []string{`DELETE FROM fxa WHERE email_id = $1`, `DELETE FROM emails WHERE email_id = $1`} {
			_, err = tx.Exec(ctx, stmt, ids[i])
			require.NoError(t, err)
		}
		require.NoError(t, tx.Commit(ctx))
	}

	before := time.Now().UTC().Add(-time.Second)
	insert(0)
	deleteAs(a.pool, 0)

	// A role holding only the Python CTMS's table privileges.
	role := "ctms_py_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	a.exec(`CREATE ROLE ` + role + ` LOGIN`)
	t.Cleanup(func() {
		_, _ = a.pool.Exec(ctx, `DROP OWNED BY `+role)
		_, _ = a.pool.Exec(ctx, `DROP ROLE `+role)
	})
	a.exec(`GRANT USAGE ON SCHEMA public TO ` + role)
	a.exec(`GRANT SELECT, INSERT, UPDATE, DELETE ON emails, fxa, amo, mofo, newsletters, waitlists TO ` + role)
	cfg := a.pool.Config().Copy()
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = ""
	python, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(python.Close)
	var canRead bool
	require.NoError(t, python.QueryRow(ctx, `SELECT has_table_privilege('deletion_tombstones', 'INSERT')`).Scan(&canRead))
	require.False(t, canRead, "the role has no privilege on the tombstones")
	insert(1)
	deleteAs(python, 1)
	after := time.Now().UTC().Add(time.Second)

	got := a.tombstonesOf(before, after, ids...)
	require.Len(t, got, 2)
	for _, tomb := range got {
		i := slices.Index(ids, tomb["email_id"].(string))
		require.Equal(t, mac(emails[i]), tomb["primary_email_hmac"])
		require.Equal(t, mac(fxaEmail), tomb["fxa_primary_email_hmac"])
		require.Equal(t, "database", tomb["deleted_by"], "not what the writer set")
	}
	require.Zero(t, a.count(`SELECT count(*) FROM deletion_fxa_pending WHERE email_id = ANY($1::uuid[])`, ids))

	// An FxA row removed on its own (PUT or PATCH) leaves no tombstone and nothing pending.
	lone := uuid.NewString()
	a.exec(`INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, lone, newEmail())
	a.exec(`INSERT INTO fxa (email_id, fxa_id, primary_email) VALUES ($1, $2, $3)`, lone, "fxa-"+lone, newEmail())
	a.exec(`DELETE FROM fxa WHERE email_id = $1`, lone)
	require.Zero(t, a.count(`SELECT count(*) FROM deletion_fxa_pending WHERE email_id = $1`, lone))
	require.Zero(t, a.count(`SELECT count(*) FROM deletion_tombstones WHERE email_id = $1`, lone))
}

// Many deletions sharing one deleted_at (one transaction) are paged through `next`
// without a repeat or a gap, in (deleted_at, email_id) order.
func TestDeletionsPagingThroughNext(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const n = 47
	ids := make([]string, n)
	emails := make([]string, n)
	for i := range ids {
		ids[i], emails[i] = uuid.NewString(), newEmail()
	}
	a.exec(`INSERT INTO emails (email_id, primary_email) SELECT id::uuid, e FROM unnest($1::text[], $2::text[]) AS x(id, e)`, ids, emails)
	var at time.Time
	// The deleting transaction's write time (sql/migrations/00007_write_time.sql), its tombstones' deleted_at.
	require.NoError(t, a.pool.QueryRow(context.Background(), `WITH d AS (DELETE FROM emails WHERE email_id = ANY($1::uuid[]))
		SELECT public.ctms_write_time()`, ids).Scan(&at))
	slices.Sort(ids)

	var seen []string
	query := "start=" + iso(at) + "&end=" + iso(at.Add(time.Microsecond)) + "&limit=10"
	pages := 0
	for {
		p := a.deletions(query)
		pages++
		require.LessOrEqual(t, pages, 10, "paging does not end")
		for _, it := range p.items {
			seen = append(seen, it["email_id"].(string))
		}
		if len(p.items) < 10 {
			require.Nil(t, p.after)
			require.Nil(t, p.next)
			break
		}
		last := p.items[len(p.items)-1]
		require.Equal(t, last["email_id"].(string)+","+strings.Replace(pyStamp(t, last["deleted_at"].(string)), "T", " ", 1),
			decodeCursor(t, p.after), "the cursor is /updates' format")
		next := followDeletions(t, p.next)
		require.Contains(t, next, "&after="+url.QueryEscape(p.after.(string)))
		query = strings.TrimPrefix(next, "/deletions?")
	}
	require.Equal(t, ids, seen, "every deletion once, ordered by email_id within one deleted_at")
	require.Equal(t, 5, pages)
}

// pyStamp turns a /deletions deleted_at ("…Z") into the cursor's "+00:00" form.
func pyStamp(t *testing.T, s string) string {
	t.Helper()
	require.True(t, strings.HasSuffix(s, "Z"), s)
	return strings.TrimSuffix(s, "Z") + "+00:00"
}

// A consumer paging /deletions with its cursor sees a deletion whose transaction
// started before its page and committed after it.
func TestDeletionsDoNotLoseLateCommits(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a := newAPIOn(t, pool) // its own database: no other test's deletions in the feed
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)
	created := func() (string, string) {
		_, body := newContact()
		email := body["email"].(obj)["primary_email"].(string)
		return a.create(body)["email"].(map[string]any)["email_id"].(string), email
	}
	firstID, first := created()
	slowID, slow := created()
	fastID, fast := created()
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(first), nil).Status)

	// A slow deletion: its transaction starts now, so its deleted_at is now...
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	_, err = tx.Exec(ctx, `DELETE FROM emails WHERE email_id = $1`, slowID)
	require.NoError(t, err)
	_ = slow

	// ...while a faster one commits a later deleted_at.
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(fast), nil).Status)

	seen := map[string]int{}
	var cursor string
	page := func() {
		q := url.Values{"start": {start}, "limit": {"1"}}
		if cursor != "" {
			q.Set("after", cursor)
		}
		for {
			p := a.deletions(q.Encode())
			for _, it := range p.items {
				seen[it["email_id"].(string)]++
			}
			after, _ := p.after.(string)
			if after == "" {
				return
			}
			cursor = after
			q.Set("after", after)
		}
	}
	page() // while the slow deletion is in flight
	require.Equal(t, 1, seen[firstID])
	require.Zero(t, seen[fastID], "the feed must stop before the oldest in-flight write")

	require.NoError(t, tx.Commit(ctx))
	page() // the consumer goes on from its cursor
	require.Equal(t, map[string]int{firstID: 1, slowID: 1, fastID: 1}, seen, "every deletion seen exactly once")
}

// The same with the service running as a role with table privileges only and the
// slow deletion made by another role (psql, a Python CTMS): its DELETE marks its
// start in pg_locks (sql/migrations/00006_write_start_marker.sql), which the
// service's role can read although pg_stat_activity hides the writer's xact_start.
func TestDeletionsDoNotLoseLateCommitsLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, writer := leastPrivilege(t)
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)
	created := func() (string, string) {
		_, body := newContact()
		return a.create(body)["email"].(map[string]any)["email_id"].(string), body["email"].(obj)["primary_email"].(string)
	}
	firstID, first := created()
	slowID, _ := created()
	fastID, fast := created()
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(first), nil).Status)

	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists", "emails"} {
		_, err = tx.Exec(ctx, `DELETE FROM `+table+` WHERE email_id = $1`, slowID)
		require.NoError(t, err, table)
	}
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(fast), nil).Status)

	seen := map[string]int{}
	follow := func(path string) (end string) {
		for path != "" {
			p := a.deletions(strings.TrimPrefix(path, "/deletions?"))
			for _, it := range p.items {
				seen[it["email_id"].(string)]++
			}
			end = p.raw["end"].(string)
			path = ""
			if p.next != nil {
				path = followDeletions(t, p.next)
			}
		}
		return end
	}
	end := follow(url.Values{"start": {start}, "limit": {"1"}}.Encode())
	require.Equal(t, map[string]int{firstID: 1}, seen, "the window must end before the oldest in-flight deletion")

	require.NoError(t, tx.Commit(ctx))
	follow(url.Values{"start": {end}, "limit": {"1"}}.Encode())
	require.Equal(t, map[string]int{firstID: 1, slowID: 1, fastID: 1}, seen, "every deletion seen exactly once")
}

// Creating the address again after a deletion is allowed (201) and keeps the
// tombstone; deleting it again adds a second one.
func TestDeletionsRecreateKeepsTombstone(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	email := body["email"].(obj)["primary_email"].(string)
	before := time.Now().UTC().Add(-time.Second)
	a.create(body)
	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(email), nil).Status)

	r := a.do("POST", "/ctms", body) // the same email_id and address
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Len(t, a.tombstonesOf(before, time.Now().UTC().Add(time.Second), id), 1, "the tombstone stays")

	require.Equal(t, http.StatusOK, a.do("DELETE", "/ctms/"+url.PathEscape(strings.ToUpper(email)), nil).Status)
	got := a.tombstonesOf(before, time.Now().UTC().Add(time.Second), id)
	require.Len(t, got, 2)
	require.Equal(t, got[0]["primary_email_hmac"], got[1]["primary_email_hmac"])
	require.Less(t, got[0]["deleted_at"].(string), got[1]["deleted_at"].(string))
}

// The parameters of /deletions are those of /updates, errors included.
func TestDeletionsParameterErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const start = "start=2020-01-01T00:00:00Z"
	const badAfter = "'after' param validation error when decoding value."
	tests := []struct {
		name, query string
		want        []any
	}{
		{"limit 0", "&limit=0", arr{valueError("limit", float64(0), `"limit" should be greater than 0`)}},
		{"limit 1001", "&limit=1001", arr{valueError("limit", float64(1001), `"limit" should be less than or equal to 1000`)}},
		{"after not base64", "&after=!!!", arr{valueError("after", "!!!", badAfter)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			require.Equal(t, tc.want, customErrors(t, a.do("GET", "/deletions?"+start+tc.query, nil)))
		})
	}
	require.Equal(t, []map[string]any{{"type": "missing", "loc": arr{"query", "start"}, "msg": "Field required", "input": nil}},
		validationErrors(t, a.do("GET", "/deletions?limit=10", nil)))
	for _, q := range []string{"start=yesterday", start + "&end=tomorrow", start + "&limit=ten"} {
		errs := validationErrors(t, a.do("GET", "/deletions?"+q, nil))
		require.Equal(t, "query", errs[0]["loc"].([]any)[0], q)
	}
	cursor := fmt.Sprintf("%s,%s", "not-a-uuid", "2020-01-22 15:24:00+00:00")
	require.Len(t, customErrors(t, a.do("GET", "/deletions?"+start+"&after="+url.QueryEscape(base64.URLEncoding.EncodeToString([]byte(cursor))), nil)), 1)
	for _, l := range []string{"1", "1000"} {
		require.Equal(t, http.StatusOK, a.do("GET", "/deletions?start=2000-01-01&end=2000-01-02&limit="+l, nil).Status)
	}
}

// Deletions through the API are counted per client id, pre-created at zero for
// every enabled client (as ctms_api_requests_total).
func TestDeletionsCountedPerClient(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	series := map[string]string{"client_id": o.clientID}
	v, ok := sample(o.families(t), "ctms_contact_deletions_total", series)
	require.True(t, ok, "pre-created")
	require.Zero(t, v)

	_, body := newContact()
	o.create(body)
	require.Equal(t, http.StatusOK, o.do("DELETE", "/ctms/"+url.PathEscape(body["email"].(obj)["primary_email"].(string)), nil).Status)
	require.Equal(t, http.StatusNotFound, o.do("DELETE", "/ctms/nobody@example.com", nil).Status)
	v, _ = sample(o.families(t), "ctms_contact_deletions_total", series)
	require.Equal(t, float64(1), v)
}
