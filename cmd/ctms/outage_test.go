package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/argon2"

	"github.com/ctms-go/ctms/internal/migrate"
)

// cheapenSecret stores a hash of secret with small argon2id parameters (1 MiB, one pass)
// for clientID, so that logins in a load cost milliseconds: with production parameters a
// CPU-starved machine queues them past the request deadline (503 Busy, internal/auth's
// Verifier), which is not what a test of the database is about.
func cheapenSecret(t *testing.T, url, clientID, secret string) {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding
	const m, passes = 1024, 1
	hash := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=1$%s$%s", argon2.Version, m, passes,
		b64.EncodeToString(salt), b64.EncodeToString(argon2.IDKey([]byte(secret), salt, passes, m, 1, 32)))
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `UPDATE api_client SET hashed_secret = $1 WHERE client_id = $2`, hash, clientID); err != nil {
		t.Fatal(err)
	}
}

// runLoad sends the operations from workers goroutines until ctx is done and
// returns every result (requests are not cancelled: each runs to its end).
func runLoad(ctx context.Context, c *apiClient, ops []loadOp, workers int) []result {
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for n := range workers {
		wg.Go(func() {
			w := &loadWorker{n: n}
			for i := 0; ctx.Err() == nil; i++ {
				r := ops[(n+i)%len(ops)].send(context.Background(), c, w)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results
}

// requireAllOK fails on any result that is not its operation's success.
func requireAllOK(t *testing.T, phase string, ops []loadOp, results []result) {
	t.Helper()
	var bad []string
	for _, r := range results {
		if !expected(ops, r) {
			bad = append(bad, r.String())
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%s: %d of %d requests failed; the first ones:\n%s", phase, len(bad), len(results), strings.Join(bad[:min(10, len(bad))], "\n"))
	}
	if len(results) == 0 {
		t.Fatalf("%s: no request ran", phase)
	}
}

// TestDatabaseOutageUnderLoad stops the database under a running `ctms serve`
// (CTMS_DB_REQUEST_TIMEOUT=2) while requests run, then starts it again: during
// the outage every request fails fast with 503, a detail and Retry-After (never a
// 500, never past the deadline), /__heartbeat__ reports the database (500, db.0001)
// and /__lbheartbeat__ stays 200; once the database is back, the service recovers
// without a restart.
func TestDatabaseOutageUnderLoad(t *testing.T) {
	const (
		deadline = 2 * time.Second
		margin   = 1500 * time.Millisecond // scheduling, -race, a busy CI machine
		recovery = 5 * time.Second
		workers  = 6
	)
	pg := startPrivatePG(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	err = migrate.Up(ctx, pool, nil)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCTMS(t)
	port := freePort(t)
	env := serveEnv("CTMS_DB_URL="+pg.url("postgres"), "CTMS_SECRET_KEY="+procSecretKey, "HOST=127.0.0.1",
		fmt.Sprintf("PORT=%d", port), fmt.Sprintf("CTMS_DB_REQUEST_TIMEOUT=%d", int(deadline/time.Second)), "CTMS_SHUTDOWN_GRACE=5")
	clientID := "id_outage"
	secret := createAdminClient(t, bin, env, clientID)
	cheapenSecret(t, pg.url("postgres"), clientID, secret)
	p := startServe(t, bin, port, env)
	c := newAPIClient(p.base)
	c.login(t, clientID, secret)
	ops := loadOps(clientID, secret)
	dbOps := ops[:len(ops)-1] // without the login, which a cached client record can serve without the database
	get := func(path string) result { return c.do(ctx, path, "GET", path, "", "") }

	// Healthy.
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	requireAllOK(t, "before the outage", ops, runLoad(lctx, c, ops, workers))
	cancel()
	if r := get("/__heartbeat__"); r.status != http.StatusOK {
		t.Fatalf("heartbeat before the outage: %s", r)
	}

	// The database stops under load.
	lctx, cancel = context.WithCancel(ctx)
	loadDone := make(chan []result)
	go func() { loadDone <- runLoad(lctx, c, ops, workers) }()
	time.Sleep(500 * time.Millisecond)
	pg.stop(t)
	stopped := time.Now()
	time.Sleep(500 * time.Millisecond)
	heartbeat, lbHeartbeat := get("/__heartbeat__"), get("/__lbheartbeat__")
	time.Sleep(2500 * time.Millisecond)
	cancel()
	results := <-loadDone

	var unavailable, okAfterStop int
	var bad []string
	for _, r := range results {
		took := r.finish.Sub(r.start)
		switch {
		case r.err != nil || (r.status != http.StatusServiceUnavailable && !expected(ops, r)):
			bad = append(bad, r.String())
		case took > deadline+margin:
			bad = append(bad, fmt.Sprintf("slower than the %s deadline: %s", deadline, r))
		case r.status == http.StatusServiceUnavailable:
			var body struct {
				Detail string `json:"detail"`
			}
			if json.Unmarshal([]byte(r.body), &body) != nil || body.Detail == "" || r.header.Get("Retry-After") == "" {
				bad = append(bad, "503 without detail or Retry-After: "+r.String())
			}
			if r.start.After(stopped) {
				unavailable++
			}
		case r.start.After(stopped) && r.op != "POST /token":
			bad = append(bad, "succeeded with the database stopped: "+r.String())
		case r.start.After(stopped):
			okAfterStop++
		}
	}
	t.Logf("outage: %d requests, %d answered 503 after the stop, %d logins served from the client cache", len(results), unavailable, okAfterStop)
	if len(bad) > 0 {
		t.Errorf("during the outage, %d requests misbehaved; the first ones:\n%s", len(bad), strings.Join(bad[:min(10, len(bad))], "\n"))
	}
	if unavailable == 0 {
		t.Error("no request answered 503 after the database stopped")
	}
	if heartbeat.status != http.StatusInternalServerError || !strings.Contains(heartbeat.body, `"db.0001":"Database not reachable"`) ||
		heartbeat.finish.Sub(heartbeat.start) > 3*time.Second+margin {
		t.Errorf("heartbeat during the outage: %s", heartbeat)
	}
	if lbHeartbeat.status != http.StatusOK {
		t.Errorf("lbheartbeat during the outage: %s", lbHeartbeat)
	}

	// The database comes back: the same process serves again within seconds.
	pg.start(t)
	restarted := time.Now()
	w := &loadWorker{}
	for {
		ok := get("/__heartbeat__").status == http.StatusOK
		for _, op := range dbOps {
			ok = ok && expected(ops, op.send(ctx, c, w))
		}
		if ok {
			break
		}
		if time.Since(restarted) > recovery {
			t.Fatalf("not recovered %s after the database restarted\n%s", recovery, pg.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %s after the database restarted", time.Since(restarted).Round(time.Millisecond))
	lctx, cancel = context.WithTimeout(ctx, time.Second)
	defer cancel()
	requireAllOK(t, "after the recovery", ops, runLoad(lctx, c, ops, workers))
	select {
	case <-p.done:
		t.Fatalf("ctms serve exited: %v", p.err)
	default:
	}
}
