package main

// Every configuration of docs/configuration.md starts: the real binary, once per setting
// that changes how `ctms serve` is put together (a second pool, the listener's session,
// secrets from files, the proxies it trusts, the drain, Sentry, the log format, …), each
// checked to serve.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/testdb"
)

// wiringCase is one configuration: settings beside the base ones (CTMS_DB_URL,
// CTMS_SECRET_KEY, HOST, PORT; a NAME_FILE setting replaces NAME), and what to check
// beyond serving.
type wiringCase struct {
	name     string
	settings []string
	check    func(t *testing.T, w *wiring, p *serveProc, c *apiClient)
}

// wiring is what the cases share: one database, its API clients, files.
type wiring struct {
	bin, dbURL, dir         string
	adminID, adminSecret    string
	plainID, plainSecret    string // a client without any role
	sentry                  *fakeSentry
	previousKey, versionDir string
}

// file writes content to a new file of the test and returns its path.
func (w *wiring) file(name, content string) string {
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		panic(err)
	}
	return path
}

func wiringCases(w *wiring) []wiringCase {
	readReplica := func(t *testing.T, _ *wiring, p *serveProc, c *apiClient) {
		// The reads of serveChecks went through the read pool (the same database here).
		if n := poolMetric(t, c, "ctms_db_pool_acquires_total", "read"); n < 1 {
			t.Errorf("ctms_db_pool_acquires_total{pool=\"read\"} = %v: the reads did not use CTMS_DB_READ_URL", n)
		}
	}
	previousKey := func(t *testing.T, w *wiring, _ *serveProc, c *apiClient) {
		tok, err := auth.MintToken(w.previousKey, w.adminID, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		old := *c
		old.token = tok
		if r := old.do(context.Background(), "read", "GET", "/ctms?primary_email=nobody@example.com", "", ""); r.status != http.StatusOK {
			t.Errorf("a token of CTMS_SECRET_KEY_PREVIOUS: %s", r)
		}
	}
	trustedProxies := func(t *testing.T, w *wiring, _ *serveProc, c *apiClient) {
		// The peer (127.0.0.1) is trusted: the throttle counts failures by the
		// X-Forwarded-For address (CTMS_TOKEN_FAILURES_PER_ADDRESS=1 in the settings).
		fail := func(addr string) result {
			return c.do(context.Background(), "token", "POST", "/token", "application/x-www-form-urlencoded",
				url.Values{"client_id": {w.adminID}, "client_secret": {"secret_wrong"}}.Encode(), "X-Forwarded-For", addr)
		}
		throttled := false
		for range 5 {
			if fail("203.0.113.7").status == http.StatusTooManyRequests {
				throttled = true
				break
			}
		}
		if !throttled {
			t.Fatal("failed logins from one forwarded address were never throttled")
		}
		if r := fail("198.51.100.9"); r.status != http.StatusBadRequest {
			t.Errorf("a failed login from another forwarded address: %s, want 400 (counted apart)", r)
		}
	}
	sentry := func(t *testing.T, w *wiring, p *serveProc, c *apiClient) {
		// A write the database refuses unexpectedly (the test's trigger) is a 500, reported
		// to Sentry without the address.
		email := fmt.Sprintf("sentry-%d@example.com", time.Now().UnixNano())
		r := c.do(context.Background(), "create", "POST", "/ctms", "application/json", `{"email":{"primary_email":"`+email+`"}}`)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("the refused write: %s, want 500", r)
		}
		body := w.sentry.waitEvent(t, "refused by the test trigger", 15*time.Second)
		if strings.Contains(body, email) || strings.Contains(body, strings.SplitN(email, "@", 2)[0]) {
			t.Errorf("the Sentry event holds the e-mail address:\n%s", tail(body, 2000))
		}
	}
	permissionsOff := func(t *testing.T, w *wiring, _ *serveProc, c *apiClient) {
		plain := newAPIClient(c.base)
		plain.login(t, w.plainID, w.plainSecret)
		if r := plain.do(context.Background(), "read", "GET", "/ctms?primary_email=nobody@example.com", "", ""); r.status != http.StatusOK {
			t.Errorf("a client without a role, permissions not enforced: %s", r)
		}
	}
	version := func(t *testing.T, _ *wiring, _ *serveProc, c *apiClient) {
		if r := c.do(context.Background(), "version", "GET", "/__version__", "", ""); !strings.Contains(r.body, `"source":"wiring-test"`) {
			t.Errorf("/__version__ does not serve $APP_DIR/version.json: %s", r)
		}
	}

	readURLFile := w.file("read_url", w.dbURL+"\n")
	listenURL := w.dbURL + "?application_name=ignored" // the same database, spelled differently
	sentryDSN := "SENTRY_DSN=http://public@" + strings.TrimPrefix(w.sentry.srv.URL, "http://") + "/1"
	secretFiles := []string{
		"CTMS_DB_URL_FILE=" + w.file("db_url", w.dbURL+"\n"),
		"CTMS_SECRET_KEY_FILE=" + w.file("secret_key", procSecretKey+"\n"),
	}
	everythingElse := []string{
		"CTMS_DB_POOL_SIZE=2", "CTMS_DB_MAX_OVERFLOW=0", "CTMS_DB_POOL_TIMEOUT_IN_SECONDS=10",
		"CTMS_DB_POOL_RECYCLE_IN_SECONDS=120", "CTMS_TOKEN_EXPIRATION=PT10M", "CTMS_SERVER_PREFIX=https://ctms.example.org",
		"CTMS_LOGGING_LEVEL=DEBUG", "CTMS_LOG_SQLALCHEMY=true", "CTMS_DELETIONS_RETENTION=P30D",
		"CTMS_HTTP_READ_HEADER_TIMEOUT=5s", "CTMS_HTTP_READ_TIMEOUT=10", "CTMS_HTTP_WRITE_TIMEOUT=PT20S",
		"CTMS_HTTP_IDLE_TIMEOUT=00:01:00", "CTMS_HTTP_MAX_HEADER_BYTES=32768", "CTMS_HTTP_MAX_BODY_BYTES=524288",
		"CTMS_DB_REQUEST_TIMEOUT=5s", "CTMS_SHUTDOWN_GRACE=5s", "GOGC=150", "CTMS_FEED_MAX_WRITE_WAIT=PT10M",
	}
	return []wiringCase{
		{name: "defaults"},
		{name: "read replica", settings: []string{"CTMS_DB_READ_URL=" + w.dbURL}, check: readReplica},
		{name: "read replica from a file", settings: []string{"CTMS_DB_READ_URL_FILE=" + readURLFile}, check: readReplica},
		{name: "listen URL", settings: []string{"CTMS_DB_LISTEN_URL=" + listenURL}},
		{name: "listen URL from a file", settings: []string{"CTMS_DB_LISTEN_URL_FILE=" + w.file("listen_url", listenURL+"\n")}},
		{name: "database URL and secret key from files", settings: secretFiles},
		{name: "previous secret key", settings: []string{"CTMS_SECRET_KEY_PREVIOUS=" + w.previousKey}, check: previousKey},
		{name: "previous secret key from a file", settings: []string{"CTMS_SECRET_KEY_PREVIOUS_FILE=" + w.file("previous_key", w.previousKey+"\n")}, check: previousKey},
		{name: "trusted proxies", settings: []string{"CTMS_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1 fd00::/8", "CTMS_TOKEN_FAILURES_PER_ADDRESS=1"}, check: trustedProxies},
		{name: "shutdown drain", settings: []string{"CTMS_SHUTDOWN_DRAIN=1s", "CTMS_SHUTDOWN_GRACE=3s"}},
		{name: "sentry", settings: []string{sentryDSN, "CTMS_SENTRY_DEBUG=true"}, check: sentry},
		{name: "text logs", settings: []string{"CTMS_USE_MOZLOG=false"}},
		{name: "permissions not enforced", settings: []string{"CTMS_ENFORCE_PERMISSIONS=false"}, check: permissionsOff},
		{name: "version.json", settings: []string{"APP_DIR=" + w.versionDir}, check: version},
		{name: "every setting at once", settings: slices.Concat(secretFiles, everythingElse, []string{
			"CTMS_DB_READ_URL_FILE=" + readURLFile, "CTMS_DB_LISTEN_URL=" + listenURL,
			"CTMS_SECRET_KEY_PREVIOUS=" + w.previousKey, "CTMS_TRUSTED_PROXIES=127.0.0.0/8",
			"CTMS_TOKEN_FAILURES_PER_ADDRESS=1", "CTMS_SHUTDOWN_DRAIN=1", sentryDSN, "CTMS_SENTRY_DEBUG=false",
			"CTMS_USE_MOZLOG=false", "CTMS_ENFORCE_PERMISSIONS=false", "APP_DIR=" + w.versionDir,
		}), check: func(t *testing.T, w *wiring, p *serveProc, c *apiClient) {
			for _, check := range []func(*testing.T, *wiring, *serveProc, *apiClient){readReplica, previousKey, trustedProxies, sentry, permissionsOff, version} {
				check(t, w, p, c)
			}
		}},
	}
}

// TestServeEveryDocumentedConfiguration starts `ctms serve` in each configuration of
// wiringCases; each must serve (/__heartbeat__, a login, a write and the reads of it,
// /metrics), pass its own checks, log in its format, and exit 0 on SIGTERM.
func TestServeEveryDocumentedConfiguration(t *testing.T) {
	w := newWiring(t)
	for _, tc := range wiringCases(w) {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			p := startServe(t, w.bin, port, w.env(port, tc.settings))
			c := newAPIClient(p.base)
			serveChecks(t, w, tc, c)
			if tc.check != nil {
				tc.check(t, w, p, c)
			}
			stopChecks(t, tc, p)
		})
	}
}

// TestEveryDocumentedSettingIsStarted: each variable of the service's table of
// docs/configuration.md, and each NAME_FILE it mentions, is set by some case of
// TestServeEveryDocumentedConfiguration (a new setting needs a case).
func TestEveryDocumentedSettingIsStarted(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	start := strings.Index(section, "## The service and the database commands")
	if start < 0 {
		t.Fatal("docs/configuration.md: no section for the service")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	for _, m := range regexp.MustCompile("`([A-Z_]+_FILE)`").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	if len(documented) < 30 {
		t.Fatalf("found only %d settings in docs/configuration.md: has its table changed shape?", len(documented))
	}
	set := map[string]bool{"CTMS_DB_URL": true, "CTMS_SECRET_KEY": true, "HOST": true, "PORT": true}
	w := &wiring{dir: t.TempDir(), sentry: &fakeSentry{srv: httptest.NewUnstartedServer(nil)}}
	for _, tc := range wiringCases(w) {
		for _, kv := range tc.settings {
			name, _, _ := strings.Cut(kv, "=")
			set[name] = true
		}
	}
	for name := range documented {
		if !set[name] {
			t.Errorf("%s is documented in docs/configuration.md but no case of TestServeEveryDocumentedConfiguration sets it", name)
		}
	}
}

// newWiring builds the binary and prepares the shared database: an admin client, a
// client without a role, and a trigger that refuses the Sentry case's write.
func newWiring(t *testing.T) *wiring {
	t.Helper()
	w := &wiring{bin: buildCTMS(t), dbURL: testdb.NewDatabase(t), dir: t.TempDir(), sentry: newFakeSentry(t),
		previousKey: "previous-serve-test-secret-key-0123456789"}
	w.versionDir = filepath.Join(w.dir, "app")
	if err := os.Mkdir(w.versionDir, 0o700); err != nil {
		t.Fatal(err)
	}
	w.file("app/version.json", `{"source":"wiring-test","version":"v0.0.0-test","commit":"0000000","build":"test"}`)
	cli := serveEnv("CTMS_DB_URL="+w.dbURL, "CTMS_SECRET_KEY="+procSecretKey)
	w.adminID, w.plainID = "id_wiring_admin", "id_wiring_plain"
	w.adminSecret = createAdminClient(t, w.bin, cli, w.adminID)
	w.plainSecret = createPlainClient(t, w.bin, cli, w.plainID)

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `
CREATE FUNCTION wiring_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.primary_email LIKE 'sentry-%' THEN
		RAISE EXCEPTION 'refused by the test trigger';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER wiring_test_refuse BEFORE INSERT ON emails FOR EACH ROW EXECUTE FUNCTION wiring_test_refuse();`); err != nil {
		t.Fatal(err)
	}
	return w
}

// env is the environment of one case: the base settings, then the case's (a NAME_FILE
// setting replaces NAME).
func (w *wiring) env(port int, settings []string) []string {
	base := map[string]string{"CTMS_DB_URL": w.dbURL, "CTMS_SECRET_KEY": procSecretKey}
	for _, kv := range settings {
		name, _, _ := strings.Cut(kv, "=")
		delete(base, strings.TrimSuffix(name, "_FILE"))
	}
	env := []string{"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port)}
	for name, v := range base {
		env = append(env, name+"="+v)
	}
	return serveEnv(append(env, settings...)...)
}

// serveChecks: the instance answers its heartbeat, logs the admin client in, stores a
// contact and reads it back by id and by address, and serves /metrics with the primary
// pool's series (and the read pool's only when CTMS_DB_READ_URL is set).
func serveChecks(t *testing.T, w *wiring, tc wiringCase, c *apiClient) {
	t.Helper()
	ctx := context.Background()
	if r := c.do(ctx, "heartbeat", "GET", "/__heartbeat__", "", ""); r.status != http.StatusOK {
		t.Fatalf("/__heartbeat__: %s", r)
	}
	c.login(t, w.adminID, w.adminSecret)
	email := fmt.Sprintf("wiring-%d@example.com", time.Now().UnixNano())
	created := c.do(ctx, "create", "POST", "/ctms", "application/json", `{"email":{"primary_email":"`+email+`"}}`)
	m := createdID.FindStringSubmatch(created.body)
	if created.status != http.StatusCreated || m == nil {
		t.Fatalf("POST /ctms: %s", created)
	}
	for _, path := range []string{"/ctms/" + m[1], "/ctms?primary_email=" + url.QueryEscape(email)} {
		if r := c.do(ctx, "read", "GET", path, "", ""); r.status != http.StatusOK || !strings.Contains(r.body, email) {
			t.Errorf("GET %s: %s", path, r)
		}
	}
	if r := c.do(ctx, "updates", "GET", "/updates?start=2000-01-01&limit=10", "", ""); r.status != http.StatusOK {
		t.Errorf("GET /updates: %s", r)
	}
	if n := poolMetric(t, c, "ctms_db_pool_max_connections", "primary"); n < 1 {
		t.Errorf("ctms_db_pool_max_connections{pool=\"primary\"} = %v", n)
	}
	_, hasRead := poolMetricValue(t, c, "ctms_db_pool_max_connections", "read")
	if wantRead := slices.ContainsFunc(tc.settings, func(kv string) bool { return strings.HasPrefix(kv, "CTMS_DB_READ_URL") }); hasRead != wantRead {
		t.Errorf("/metrics has the read pool's series: %v, want %v", hasRead, wantRead)
	}
}

// stopChecks: SIGTERM ends the instance with status 0 (after CTMS_SHUTDOWN_DRAIN when
// set), and every line it wrote is in the configured format.
func stopChecks(t *testing.T, tc wiringCase, p *serveProc) {
	t.Helper()
	drain := time.Duration(0)
	text := false
	for _, kv := range tc.settings {
		switch name, v, _ := strings.Cut(kv, "="); name {
		case "CTMS_SHUTDOWN_DRAIN":
			secs, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
			if err != nil {
				t.Fatalf("%s: %v", kv, err)
			}
			drain = time.Duration(secs * float64(time.Second))
		case "CTMS_USE_MOZLOG":
			text = v == "false"
		}
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(drain + 20*time.Second):
		t.Fatal("ctms serve still running 20 s after SIGTERM and the drain")
	}
	if p.err != nil {
		t.Errorf("ctms serve exited with %v, want status 0", p.err)
	}
	if took := time.Since(signalled); took < drain {
		t.Errorf("exited %s after SIGTERM, before the %s drain ended", took, drain)
	}
	out := strings.TrimSpace(p.out.String())
	if !strings.Contains(out, "serving") {
		t.Errorf("no \"serving\" line:\n%s", tail(out, 2000))
	}
	for _, line := range strings.Split(out, "\n") {
		var rec struct{ Type string }
		isMozlog := json.Unmarshal([]byte(line), &rec) == nil && rec.Type != ""
		if isMozlog == text {
			t.Errorf("CTMS_USE_MOZLOG=%v, yet this line is %s: %q", !text, map[bool]string{true: "MozLog JSON", false: "not MozLog JSON"}[isMozlog], line)
			break
		}
	}
}

// poolMetric is the value of name{pool="pool"} on /metrics; it fails the test when the
// series is missing.
func poolMetric(t *testing.T, c *apiClient, name, pool string) float64 {
	t.Helper()
	v, ok := poolMetricValue(t, c, name, pool)
	if !ok {
		t.Fatalf("/metrics has no %s{pool=%q}", name, pool)
	}
	return v
}

func poolMetricValue(t *testing.T, c *apiClient, name, pool string) (float64, bool) {
	t.Helper()
	r := c.do(context.Background(), "metrics", "GET", "/metrics", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %s", r)
	}
	prefix := name + `{pool="` + pool + `"} `
	for _, line := range strings.Split(r.body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f, true
		}
	}
	return 0, false
}

// createPlainClient creates an API client without a role through the CLI.
func createPlainClient(t *testing.T, bin string, env []string, id string) string {
	t.Helper()
	cmd := exec.Command(bin, "clients", "create", id, "owner@example.com")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	m := secretLine.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("ctms clients create: %v\n%s", err, out)
	}
	return m[1]
}

// fakeSentry is a Sentry endpoint on loopback that keeps the bodies it receives.
type fakeSentry struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newFakeSentry(t *testing.T) *fakeSentry {
	f := &fakeSentry{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, body)
		f.mu.Lock()
		f.bodies = append(f.bodies, r.URL.Path+"\n"+buf.String())
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// waitEvent waits for a body that contains want and returns it.
func (f *fakeSentry) waitEvent(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		for _, b := range f.bodies {
			if strings.Contains(b, want) {
				f.mu.Unlock()
				return b
			}
		}
		n := len(f.bodies)
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("Sentry received no event with %q within %s (%d requests)", want, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
