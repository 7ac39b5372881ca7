package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// changeDeadline is how soon a change to the access tables must show on every instance.
const changeDeadline = time.Second

// startFeed starts an access feed on pool's database and waits until it is live.
func startFeed(t *testing.T, pool *pgxpool.Pool, opts ...accessfeed.Option) *accessfeed.Feed {
	t.Helper()
	f := accessfeed.Start(&pool.Config().ConnConfig.Config, nil, opts...)
	t.Cleanup(f.Close)
	waitLive(t, f, 0)
	return f
}

// waitLive waits until f is live on a connection other than the backend oldPID.
func waitLive(t *testing.T, f *accessfeed.Feed, oldPID uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.Version().Live() || f.BackendPID() == oldPID {
		require.True(t, time.Now().Before(deadline), "the access feed did not go live")
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until f's version has not moved for 200 ms.
func settle(t *testing.T, f *accessfeed.Feed) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for v, since := f.Version(), time.Now(); time.Since(since) < 200*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the access feed keeps moving")
		if now := f.Version(); now != v {
			v, since = now, time.Now()
		}
	}
}

// instances starts n servers on the database at dbURL, as n processes would run: each has
// its own pool and access feed. All authenticate the first one's client.
func instances(t *testing.T, dbURL string, n int) []*apiTest {
	t.Helper()
	var out []*apiTest
	for i := range n {
		pool, err := pgxpool.New(context.Background(), dbURL)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		feed := startFeed(t, pool)
		if i == 0 {
			out = append(out, newAPIOn(t, pool, httpapi.WithAccessFeed(feed)))
			continue
		}
		b := *out[0]
		b.pool = pool
		h, err := httpapi.New(context.Background(), b.cfg, pool, pool,
			httpapi.WithLogger(obs.NewLogger(&packageLogs, true, slog.LevelDebug)), httpapi.WithAccessFeed(feed))
		require.NoError(t, err)
		b.srv = httptest.NewServer(h)
		t.Cleanup(b.srv.Close)
		out = append(out, &b)
	}
	return out
}

// expectEverywhere polls every instance until `method path` answers want, and fails if one
// still answers something else changeDeadline after the call.
func expectEverywhere(t *testing.T, insts []*apiTest, method, path string, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(changeDeadline)
	for i, a := range insts {
		for {
			r, err := a.send(method, path, nil)
			require.NoError(t, err)
			if r.Status == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d: %s %s answers %d, not %d, %v after %s", i, method, path, r.Status, want, changeDeadline, why)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// warm makes every instance cache the client (and checks it is allowed).
func warm(t *testing.T, insts []*apiTest, path string) {
	t.Helper()
	for _, a := range insts {
		for range 2 {
			require.Equal(t, http.StatusNotFound, a.do("GET", path, nil).Status)
		}
	}
}

// Changes made in plain SQL (as psql or the Python CTMS would) to the client, its roles and
// the roles' permissions take effect on every running instance within a second.
func TestAccessChangesReachEveryInstance(t *testing.T) {
	t.Parallel()
	insts := instances(t, testdb.NewDatabase(t), 2)
	a := insts[0]
	path := "/ctms/" + uuid.NewString()
	warm(t, insts, path)

	a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
	expectEverywhere(t, insts, "GET", path, http.StatusBadRequest, "disabling the client")
	a.exec(`UPDATE api_client SET enabled = true WHERE client_id = $1`, a.clientID)
	expectEverywhere(t, insts, "GET", path, http.StatusNotFound, "re-enabling the client")

	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, a.clientID)
	expectEverywhere(t, insts, "GET", path, http.StatusForbidden, "revoking its role")

	// A role of its own with view_contacts: granting it, then changing the role's permissions.
	a.exec(`INSERT INTO roles (name, description) VALUES ('viewer', '')`)
	a.exec(`INSERT INTO role_permissions (role_id, permission_id)
		SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = 'viewer' AND p.name = 'view_contacts'`)
	a.grant(a.clientID, "viewer")
	expectEverywhere(t, insts, "GET", path, http.StatusNotFound, "granting a role")
	a.exec(`DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'viewer')`)
	expectEverywhere(t, insts, "GET", path, http.StatusForbidden, "removing the role's permission")
	a.exec(`INSERT INTO role_permissions (role_id, permission_id)
		SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = 'viewer' AND p.name = 'view_contacts'`)
	expectEverywhere(t, insts, "GET", path, http.StatusNotFound, "giving the role the permission back")
	a.exec(`UPDATE permissions SET name = 'view_contacts_renamed' WHERE name = 'view_contacts'`)
	expectEverywhere(t, insts, "GET", path, http.StatusForbidden, "renaming the permission")
	a.exec(`UPDATE permissions SET name = 'view_contacts' WHERE name = 'view_contacts_renamed'`)
	expectEverywhere(t, insts, "GET", path, http.StatusNotFound, "renaming it back")

	// Holding a role named admin is every permission: renaming a role can grant them.
	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, a.clientID)
	a.exec(`DELETE FROM roles WHERE name = 'admin'`)
	a.grant(a.clientID, "chief") // a role without permissions
	expectEverywhere(t, insts, "DELETE", "/ctms/nobody@example.com", http.StatusForbidden, "granting a role without permissions")
	a.exec(`UPDATE roles SET name = 'admin' WHERE name = 'chief'`)
	expectEverywhere(t, insts, "DELETE", "/ctms/nobody@example.com", http.StatusNotFound, "renaming the role admin")

	a.exec(`DELETE FROM api_client WHERE client_id = $1`, a.clientID)
	expectEverywhere(t, insts, "GET", path, http.StatusUnauthorized, "deleting the client")
}

// A client disabled and enabled again, over and over, while requests keep both instances'
// caches busy: after each change every instance shows it within a second (a read racing a
// change must not put the old state back in a cache).
func TestAccessChangesRacingReads(t *testing.T) {
	t.Parallel()
	insts := instances(t, testdb.NewDatabase(t), 2)
	a := insts[0]
	path := "/ctms/" + uuid.NewString()
	warm(t, insts, path)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, inst := range insts {
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := inst.send("GET", path, nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	defer func() { close(stop); wg.Wait() }()
	for i := range 10 {
		enabled := i%2 == 1
		a.exec(`UPDATE api_client SET enabled = $2 WHERE client_id = $1`, a.clientID, enabled)
		want := map[bool]int{true: http.StatusNotFound, false: http.StatusBadRequest}[enabled]
		expectEverywhere(t, insts, "GET", path, want, fmt.Sprintf("setting enabled to %v", enabled))
		// And it stays so: no stale entry comes back.
		time.Sleep(50 * time.Millisecond)
		for _, inst := range insts {
			require.Equal(t, want, inst.do("GET", path, nil).Status)
		}
	}
}

// A rotated secret stops working at once on every instance, and the new one works.
func TestSecretRotationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	insts := instances(t, testdb.NewDatabase(t), 2)
	a := insts[0]
	login := func(b *apiTest, secret string) int {
		return b.postToken(url.Values{"client_id": {a.clientID}, "client_secret": {secret}}).Status
	}
	for _, b := range insts {
		require.Equal(t, http.StatusOK, login(b, a.secret))
	}
	other, otherSecret := a.createClient(true)
	a.exec(`UPDATE api_client SET hashed_secret = (SELECT hashed_secret FROM api_client WHERE client_id = $2)
		WHERE client_id = $1`, a.clientID, other)
	for _, b := range insts {
		require.Equal(t, http.StatusBadRequest, login(b, a.secret))
		require.Equal(t, http.StatusOK, login(b, otherSecret))
	}
}

// When the listener's connection is killed, the instance reads clients from the database
// until it has reconnected (no change is missed meanwhile), then caches again and still
// hears of every change.
func TestAccessFeedReconnects(t *testing.T) {
	t.Parallel()
	dbURL := testdb.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	feed := startFeed(t, pool)
	a := newAPIOn(t, pool, httpapi.WithAccessFeed(feed))
	insts := []*apiTest{a}
	path := "/ctms/" + uuid.NewString()

	for round := range 3 {
		warm(t, insts, path)
		pid := feed.BackendPID()
		var killed bool
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&killed))
		require.True(t, killed)
		// A change made while the listener is down (or reconnecting) shows all the same.
		a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
		expectEverywhere(t, insts, "GET", path, http.StatusBadRequest, fmt.Sprintf("round %d: disabling while the listener is down", round))
		waitLive(t, feed, pid)
		a.exec(`UPDATE api_client SET enabled = true WHERE client_id = $1`, a.clientID)
		expectEverywhere(t, insts, "GET", path, http.StatusNotFound, fmt.Sprintf("round %d: re-enabling after the reconnection", round))
		warm(t, insts, path)
		a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
		expectEverywhere(t, insts, "GET", path, http.StatusBadRequest, fmt.Sprintf("round %d: disabling after the reconnection", round))
		a.exec(`UPDATE api_client SET enabled = true WHERE client_id = $1`, a.clientID)
		expectEverywhere(t, insts, "GET", path, http.StatusNotFound, fmt.Sprintf("round %d: re-enabling", round))
	}
}

// withoutTriggers changes the database as a replication apply or a restore would, with
// triggers off (superuser only): no notification.
func withoutTriggers(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), sql, args...)
		return err
	}))
}

// The cache does serve clients from memory (a change nobody is told of does not show), and
// it is the notification that ends it: a bare NOTIFY is enough.
func TestClientCacheDroppedOnNotify(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	feed := startFeed(t, pool)
	a := newAPIOn(t, pool, httpapi.WithAccessFeed(feed))
	insts := []*apiTest{a}
	path := "/ctms/" + uuid.NewString()
	settle(t, feed) // the notifications of the client's creation
	warm(t, insts, path)

	withoutTriggers(t, a.pool, `UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, http.StatusNotFound, a.do("GET", path, nil).Status, "served from the cache")
	a.exec(`NOTIFY ` + accessfeed.Channel)
	expectEverywhere(t, insts, "GET", path, http.StatusBadRequest, "a NOTIFY")
}

// A change made without notification shows after the safety-net refresh all the same.
func TestClientCacheRefreshedPeriodically(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a := newAPIOn(t, pool, httpapi.WithAccessFeed(startFeed(t, pool, accessfeed.WithRefresh(300*time.Millisecond))))
	path := "/ctms/" + uuid.NewString()
	warm(t, []*apiTest{a}, path)

	withoutTriggers(t, a.pool, `UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
	expectEverywhere(t, []*apiTest{a}, "GET", path, http.StatusBadRequest, "the periodic refresh")
}

// afterQuery runs a hook, once, after the first query whose SQL contains match has read
// its rows (pgx calls TraceQueryEnd when the rows are closed).
type afterQuery struct {
	match string
	hook  atomic.Pointer[func()]
}

type afterQueryKey struct{}

func (h *afterQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, h.match) {
		return context.WithValue(ctx, afterQueryKey{}, true)
	}
	return ctx
}

func (h *afterQuery) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if ctx.Value(afterQueryKey{}) != nil {
		if f := h.hook.Swap(nil); f != nil {
			(*f)()
		}
	}
}

// A change committed (and notified) while a request is reading the client: the request
// goes on with what it read, but the cache must not keep it, so the next request sees the
// change at once.
func TestClientCacheReadRacingChange(t *testing.T) {
	t.Parallel()
	dbURL := testdb.NewDatabase(t)
	tracer := &afterQuery{match: "AS is_admin"}
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	other, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(other.Close)
	feed := startFeed(t, pool)
	a := newAPIOn(t, pool, httpapi.WithAccessFeed(feed))
	settle(t, feed)
	path := "/ctms/" + uuid.NewString()

	hook := func() {
		before := feed.Version()
		if _, err := other.Exec(context.Background(), `UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID); err != nil {
			t.Error(err) // on the request's goroutine: no FailNow
		}
		deadline := time.Now().Add(5 * time.Second)
		for feed.Version() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	tracer.hook.Store(&hook)
	require.Equal(t, http.StatusNotFound, a.do("GET", path, nil).Status, "the request read the client before the change")
	require.Nil(t, tracer.hook.Load(), "the hook ran")
	require.Equal(t, http.StatusBadRequest, a.do("GET", path, nil).Status, "the next one sees the change")
}

// Stamping last_access (each instance does it about once a minute per client) does not
// empty every cache; changing enabled does.
func TestLastAccessDoesNotNotify(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	feed := startFeed(t, pool)
	a := newAPIOn(t, pool, httpapi.WithAccessFeed(feed))
	settle(t, feed)
	before := feed.Version()
	a.exec(`UPDATE api_client SET last_access = now(), update_timestamp = now(), email = 'x@example.com' WHERE client_id = $1`, a.clientID)
	a.exec(`UPDATE api_client SET enabled = enabled WHERE client_id = $1`, a.clientID)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, before, feed.Version())
	a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
	require.Eventually(t, func() bool { return feed.Version() != before }, changeDeadline, 5*time.Millisecond)
}
