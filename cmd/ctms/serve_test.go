package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// loadOp is one kind of request of the test load, with the status it must get.
type loadOp struct {
	name string
	want int
	send func(ctx context.Context, c *apiClient, w *loadWorker) result
}

// loadWorker is one client goroutine; it remembers the contacts it created.
type loadWorker struct {
	n        int
	contacts []string
}

var createdID = regexp.MustCompile(`"email_id":"([0-9a-f-]{36})"`)

// loadOps are the requests of the load: writes, reads, a slow-ish bulk read and,
// slowest, logins (argon2id with the production parameters).
func loadOps(clientID, secret string) []loadOp {
	create := loadOp{"POST /ctms", http.StatusCreated, func(ctx context.Context, c *apiClient, w *loadWorker) result {
		id := uuid.NewString()
		r := c.do(ctx, "POST /ctms", "POST", "/ctms", "application/json", fmt.Sprintf(
			`{"email":{"email_id":%q,"primary_email":"load.%s@example.com"},"newsletters":[{"name":"firefox-news"},{"name":"mozilla-foundation"}],"waitlists":[{"name":"vpn","fields":{"geo":"fr"}}]}`, id, id))
		if r.status == http.StatusCreated {
			w.contacts = append(w.contacts, id)
		}
		return r
	}}
	last := func(w *loadWorker) string {
		if len(w.contacts) == 0 {
			return uuid.NewString()
		}
		return w.contacts[len(w.contacts)-1]
	}
	return []loadOp{
		create,
		{"GET /ctms/{id}", http.StatusOK, func(ctx context.Context, c *apiClient, w *loadWorker) result {
			if len(w.contacts) == 0 {
				return create.send(ctx, c, w)
			}
			return c.do(ctx, "GET /ctms/{id}", "GET", "/ctms/"+last(w), "", "")
		}},
		{"PATCH /ctms/{id}", http.StatusOK, func(ctx context.Context, c *apiClient, w *loadWorker) result {
			if len(w.contacts) == 0 {
				return create.send(ctx, c, w)
			}
			return c.do(ctx, "PATCH /ctms/{id}", "PATCH", "/ctms/"+last(w), "application/json",
				`{"email":{"first_name":"Patched"},"newsletters":[{"name":"firefox-news","subscribed":false}]}`)
		}},
		{"GET /updates", http.StatusOK, func(ctx context.Context, c *apiClient, w *loadWorker) result {
			return c.do(ctx, "GET /updates", "GET", "/updates?start=2000-01-01&limit=500", "", "")
		}},
		{"POST /token", http.StatusOK, func(ctx context.Context, c *apiClient, w *loadWorker) result {
			return c.do(ctx, "POST /token", "POST", "/token", "application/x-www-form-urlencoded",
				url.Values{"client_id": {clientID}, "client_secret": {secret}}.Encode())
		}},
	}
}

// expected tells whether r got the status of its operation (a create that stood
// in for a read or patch wants 201).
func expected(ops []loadOp, r result) bool {
	for _, op := range ops {
		if op.name == r.op {
			return r.err == nil && r.status == op.want
		}
	}
	return false
}

// TestServeSIGTERMUnderLoad runs the real binary under a steady concurrent load,
// sends SIGTERM mid-load and checks: every request the server accepted completed
// successfully (requests after the listener closed are refused, counted apart),
// some were in flight at the signal, and the process exits 0 within the grace.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	const grace = 10 * time.Second
	bin := buildCTMS(t)
	port := freePort(t)
	env := serveEnv("CTMS_DB_URL="+testdb.NewDatabase(t), "CTMS_SECRET_KEY="+procSecretKey,
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), fmt.Sprintf("CTMS_SHUTDOWN_GRACE=%d", int(grace/time.Second)))
	clientID := "id_sigterm"
	secret := createAdminClient(t, bin, env, clientID)
	p := startServe(t, bin, port, env)
	c := newAPIClient(p.base)
	c.login(t, clientID, secret)
	ops := loadOps(clientID, secret)

	const workers = 8
	var (
		mu       sync.Mutex
		results  []result
		inFlight atomic.Int32
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), grace+20*time.Second)
	defer cancel()
	for n := range workers {
		wg.Go(func() {
			w := &loadWorker{n: n}
			for i := 0; ctx.Err() == nil; i++ {
				op := ops[(n+i)%(len(ops)-1)] // every operation but the login…
				if n < 2 && i%3 == 0 {
					op = ops[len(ops)-1] // …which two workers send often: the slow requests
				}
				inFlight.Add(1)
				r := op.send(ctx, c, w)
				inFlight.Add(-1)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.refused() {
					return // the listener is closed: the server accepts nothing more
				}
			}
		})
	}

	time.Sleep(1500 * time.Millisecond)
	for i := 0; inFlight.Load() < workers/2 && i < 2000; i++ {
		time.Sleep(time.Millisecond) // signal while requests are in flight
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exited time.Time
	select {
	case <-p.done:
		exited = time.Now()
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("ctms serve still running %s after SIGTERM", grace+10*time.Second)
	}
	wg.Wait()

	if p.err != nil {
		t.Errorf("ctms serve exited with %v, want status 0", p.err)
	}
	if d := exited.Sub(signalled); d > grace {
		t.Errorf("ctms serve took %s to exit, more than the %s grace", d, grace)
	}
	if !strings.Contains(p.out.String(), "shutting down") {
		t.Error(`no "shutting down" in the server's log`)
	}
	var okBefore, inFlightOK, okAfter, refused int
	var failed []string
	for _, r := range results {
		switch {
		case r.refused():
			refused++
		case !expected(ops, r):
			failed = append(failed, r.String())
		case r.finish.Before(signalled):
			okBefore++
		case r.start.Before(signalled):
			inFlightOK++
		default: // sent in the instant between the signal and the listener's close
			okAfter++
		}
	}
	t.Logf("%d requests: %d completed before SIGTERM, %d in flight at SIGTERM completed, %d sent after it completed, "+
		"%d refused after the listener closed, %d failed; exit %s after the signal",
		len(results), okBefore, inFlightOK, okAfter, refused, len(failed), exited.Sub(signalled).Round(time.Millisecond))
	if len(failed) > 0 {
		t.Errorf("%d requests failed; the first ones:\n%s", len(failed), strings.Join(failed[:min(10, len(failed))], "\n"))
	}
	if okBefore < 20 || inFlightOK == 0 {
		t.Errorf("no real load: %d requests before the signal, %d in flight at it", okBefore, inFlightOK)
	}
	if refused == 0 {
		t.Error("no request was refused after the listener closed: did the load keep running?")
	}
}

// TestServeRefusesShortSecretKey: the server does not start with a CTMS_SECRET_KEY
// shorter than 32 bytes (an HS256 key as long as the hash).
func TestServeRefusesShortSecretKey(t *testing.T) {
	t.Setenv("CTMS_DB_URL", "postgresql://postgres@127.0.0.1:1/none")
	t.Setenv("CTMS_SECRET_KEY", strings.Repeat("k", 31))
	res := runCLI(t, "", "serve")
	if res.code != 1 || !strings.Contains(res.errOut, "CTMS_SECRET_KEY must be at least 32 bytes long (got 31)") {
		t.Fatalf("exit %d, stderr %q", res.code, res.errOut)
	}
}

// TestServeHTTPLimits: the HTTP server limits of the configuration are in force in
// the real binary: a client that sends its headers too slowly or stays idle is
// disconnected, over-long headers get 431 and over-long bodies 413.
func TestServeHTTPLimits(t *testing.T) {
	bin := buildCTMS(t)
	port := freePort(t)
	env := serveEnv("CTMS_DB_URL="+testdb.NewDatabase(t), "CTMS_SECRET_KEY="+procSecretKey,
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "CTMS_HTTP_READ_HEADER_TIMEOUT=1",
		"CTMS_HTTP_IDLE_TIMEOUT=1", "CTMS_HTTP_MAX_HEADER_BYTES=1024", "CTMS_HTTP_MAX_BODY_BYTES=2048")
	secret := createAdminClient(t, bin, env, "id_limits")
	p := startServe(t, bin, port, env)
	c := newAPIClient(p.base)
	c.login(t, "id_limits", secret)

	// closedWithin sends raw bytes and requires the server to close the connection
	// between min and max later; it returns what the server sent.
	closedWithin := func(name, send string, minWait, maxWait time.Duration) string {
		t.Helper()
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := conn.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(maxWait + 2*time.Second))
		got, err := io.ReadAll(conn)
		took := time.Since(start)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: connection still open after %s", name, took)
		}
		if took < minWait || took > maxWait {
			t.Errorf("%s: closed after %s, want %s to %s", name, took.Round(time.Millisecond), minWait, maxWait)
		}
		return string(got)
	}
	closedWithin("slow headers", "GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n", 900*time.Millisecond, 3*time.Second)
	got := closedWithin("idle keep-alive connection", "GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n", 900*time.Millisecond, 3*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("idle keep-alive connection: got %q", got)
	}

	r := c.do(context.Background(), "big header", "GET", "/__lbheartbeat__", "", "", "X-Big", strings.Repeat("x", 8000))
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("over-long header: %s", r)
	}
	r = c.do(context.Background(), "big body", "POST", "/ctms", "application/json",
		`{"email":{"primary_email":"big@example.com","first_name":"`+strings.Repeat("x", 3000)+`"}}`)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "Request body too large") {
		t.Errorf("over-long body: %s", r)
	}
}

// TestServeSIGTERMDrains: after SIGTERM the real binary answers 503 on
// /__lbheartbeat__ for CTMS_SHUTDOWN_DRAIN while it still serves every other
// request, then closes its listener and exits 0. Every line it writes, net/http's
// own messages included, is a MozLog JSON line of its logger.
func TestServeSIGTERMDrains(t *testing.T) {
	const drain = 3 * time.Second
	bin := buildCTMS(t)
	port := freePort(t)
	env := serveEnv("CTMS_DB_URL="+testdb.NewDatabase(t), "CTMS_SECRET_KEY="+procSecretKey,
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "CTMS_SHUTDOWN_DRAIN=3", "CTMS_SHUTDOWN_GRACE=5")
	secret := createAdminClient(t, bin, env, "id_drain")
	p := startServe(t, bin, port, env)
	c := newAPIClient(p.base)
	c.login(t, "id_drain", secret)
	ctx := context.Background()

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var lb result
	for time.Since(signalled) < time.Second {
		if lb = c.do(ctx, "lbheartbeat", "GET", "/__lbheartbeat__", "", ""); lb.status == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lb.status != http.StatusServiceUnavailable || !strings.Contains(lb.body, `"detail":"Service Unavailable: shutting down"`) {
		t.Errorf("/__lbheartbeat__ during the drain: %s", lb)
	}
	for _, r := range []result{
		c.do(ctx, "updates", "GET", "/updates?start=2000-01-01", "", ""),
		c.do(ctx, "create", "POST", "/ctms", "application/json", `{"email":{"primary_email":"drain@example.com"}}`),
		c.do(ctx, "version", "GET", "/__version__", "", ""),
	} {
		if r.err != nil || r.status >= 300 {
			t.Errorf("during the drain: %s", r)
		}
	}
	if d := time.Since(signalled); d >= drain {
		t.Fatalf("the checks took %s, longer than the drain: inconclusive", d)
	}
	select {
	case <-p.done:
	case <-time.After(drain + 15*time.Second):
		t.Fatal("ctms serve still running after drain and grace")
	}
	if d := time.Since(signalled); d < drain {
		t.Errorf("ctms serve exited %s after SIGTERM, before the %s drain ended", d, drain)
	}
	if p.err != nil {
		t.Errorf("ctms serve exited with %v, want status 0", p.err)
	}
	if r := c.do(ctx, "after", "GET", "/__lbheartbeat__", "", ""); !r.refused() {
		t.Errorf("after exit: %s", r)
	}

	for _, line := range strings.Split(strings.TrimSpace(p.out.String()), "\n") {
		var rec struct{ Type string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Type == "" {
			t.Errorf("not a MozLog line of the logger: %q", line)
		}
	}
}

// TestServeHTTPErrorLog: what net/http itself logs (a panic it recovered, a
// handler's superfluous WriteHeader) goes through the server's logger.
func TestServeHTTPErrorLog(t *testing.T) {
	var out syncBuffer
	cfg, err := config.LoadFrom(func(name string) (string, bool) {
		v, ok := map[string]string{"CTMS_DB_URL": "postgresql://x@127.0.0.1:1/x", "CTMS_SECRET_KEY": procSecretKey}[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httpServer(cfg, handler, obs.NewLogger(&out, true, slog.LevelInfo))
	ts := httptest.NewUnstartedServer(handler)
	ts.Config = srv
	ts.Start()
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ts.Close()
	line := out.String()
	if !strings.HasPrefix(line, `{"Timestamp":`) || !strings.Contains(line, `"Type":"uvicorn.error"`) ||
		!strings.Contains(line, "superfluous response.WriteHeader") {
		t.Errorf("net/http's message is not a line of the logger: %q", line)
	}
}

// TestServeSecondSIGTERMExitsAtOnce: a second SIGTERM during the drain (or the
// grace) ends the process at once, with a non-zero status.
func TestServeSecondSIGTERMExitsAtOnce(t *testing.T) {
	bin := buildCTMS(t)
	port := freePort(t)
	env := serveEnv("CTMS_DB_URL="+testdb.NewDatabase(t), "CTMS_SECRET_KEY="+procSecretKey,
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "CTMS_SHUTDOWN_DRAIN=60", "CTMS_SHUTDOWN_GRACE=60")
	p := startServe(t, bin, port, env)
	c := newAPIClient(p.base)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var lb result
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if lb = c.do(context.Background(), "lbheartbeat", "GET", "/__lbheartbeat__", "", ""); lb.status == http.StatusServiceUnavailable {
			break
		}
	}
	if lb.status != http.StatusServiceUnavailable {
		t.Fatalf("not draining after the first SIGTERM: %s", lb)
	}
	again := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("ctms serve still running 10s after the second SIGTERM")
	}
	if d := time.Since(again); d > 2*time.Second {
		t.Errorf("ctms serve took %s to exit after the second SIGTERM", d)
	}
	if p.err == nil {
		t.Error("ctms serve exited 0 after a forced stop")
	}
	if !strings.Contains(p.out.String(), "second signal: exiting at once") {
		t.Error("the forced exit is not logged")
	}
}
