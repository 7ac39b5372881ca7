package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// group is a mapped newsletter (or waitlist slug): its subscription group and title.
type group struct{ id, title string }

// theMapping is what the drill sets with `ctms sync mapping set`: some newsletters with a
// title, some without (the title is then the newsletter's name), two waitlist slugs; the
// other newsletters and the monitor waitlist stay unmapped.
var theMapping = map[string]group{
	"mozilla-and-you":       {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f41", "Mozilla and You"},
	"mozilla-foundation":    {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f42", "Mozilla Foundation"},
	"firefox-news":          {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f43", ""},
	"knowledge-is-power":    {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f44", ""},
	"guardian-vpn-waitlist": {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f45", "Mozilla VPN Waitlist"},
	"relay-waitlist":        {"6a1f7a3e-0c2b-4d7e-9a57-0b3c1d2e3f46", ""},
}

// titleOf is the title of slug's events: the one given, else the newsletter's name.
func titleOf(slug string) string {
	if t := theMapping[slug].title; t != "" {
		return t
	}
	return slug
}

var (
	newsletterNames = []string{"mozilla-and-you", "mozilla-foundation", "firefox-news", "knowledge-is-power", "about-mozilla", "mdnplus"}
	waitlistNames   = []string{"vpn", "relay", "monitor"}
)

const fakeKey = "synctest-braze-key"

type replica struct {
	p          *proc
	metricsURL string
	heartbeat  string
}

type drill struct {
	o       options
	dir     string
	logs    string
	pg      *pgServer
	dbURL   string
	pool    *pgxpool.Pool
	env     []string // ctms commands' environment
	fake    *proc
	fakeURL string
	serve   *proc
	api     string
	token   string

	mu       sync.Mutex
	replicas []*replica
	started  int // replicas started, to name them

	created    idSet             // every email_id the drill ever created (backfill included)
	backfilled []backfillContact // by index (1..contacts)
}

func setUp(ctx context.Context, o options) (*drill, error) {
	dir, err := os.MkdirTemp("", "ctms-synctest-")
	if err != nil {
		return nil, err
	}
	d := &drill{o: o, dir: dir, logs: filepath.Join(dir, "logs"), created: newIDSet()}
	if err := os.MkdirAll(d.logs, 0o750); err != nil {
		return d, err
	}
	logf("working directory %s", dir)
	if d.pg, err = startPG(o.pgbin, dir); err != nil {
		return d, err
	}
	admin, err := pgx.Connect(ctx, d.pg.url("postgres"))
	if err != nil {
		return d, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE ctms")
	_ = admin.Close(ctx)
	if err != nil {
		return d, fmt.Errorf("create database: %w", err)
	}
	d.dbURL = d.pg.url("ctms")
	secret, hashKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(hashKey)
	d.env = cleanEnv("CTMS_DB_URL="+d.dbURL, "CTMS_SECRET_KEY="+hex.EncodeToString(secret),
		"CTMS_DELETION_HASH_KEY="+hex.EncodeToString(hashKey), "CTMS_USE_MOZLOG=false",
		"CTMS_LOGGING_LEVEL=INFO", "SENTRY_DSN=")
	if _, err := runCmd(d.env, o.ctmsBin, "migrate"); err != nil {
		return d, err
	}
	out, err := runCmd(d.env, o.ctmsBin, "clients", "create", "id_synctest", "synctest@example.com")
	if err != nil {
		return d, err
	}
	clientSecret := ""
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "- Client Secret: "); ok {
			clientSecret = v
		}
	}
	if clientSecret == "" {
		return d, errors.New("no secret in the output of ctms clients create")
	}
	if _, err := runCmd(d.env, o.ctmsBin, "clients", "grant", "id_synctest", "admin"); err != nil {
		return d, err
	}
	for slug, g := range theMapping {
		args := []string{"sync", "mapping", "set", slug, g.id}
		if g.title != "" {
			args = append(args, "--title", g.title)
		}
		if _, err := runCmd(d.env, o.ctmsBin, args...); err != nil {
			return d, err
		}
	}
	cfg, err := pgxpool.ParseConfig(d.dbURL)
	if err != nil {
		return d, err
	}
	cfg.MaxConns = 12
	cfg.ConnConfig.RuntimeParams["application_name"] = "synctest-sql" // a writer of its own, as psql
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return d, err
	}

	d.fake, err = launch("brazefake", d.logs, cleanEnv(), o.fakeBin, "-listen", "127.0.0.1:0", "-api-key", fakeKey,
		"-record-attributes", "-seed", "19")
	if err != nil {
		return d, err
	}
	line, err := waitLine(d.fake, "listening on ", 30*time.Second)
	if err != nil {
		return d, err
	}
	d.fakeURL = strings.TrimPrefix(line, "listening on ")

	port, err := freePort()
	if err != nil {
		return d, err
	}
	d.api = fmt.Sprintf("http://127.0.0.1:%d", port)
	d.serve, err = launch("serve", d.logs, append(append([]string{}, d.env...), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port),
		"CTMS_LOGGING_LEVEL=WARNING"), o.ctmsBin, "serve")
	if err != nil {
		return d, err
	}
	if err := waitHTTP(d.serve, d.api+"/__lbheartbeat__", 30*time.Second); err != nil {
		return d, err
	}
	if d.token, err = getToken(ctx, d.api, "id_synctest", clientSecret); err != nil {
		return d, err
	}
	logf("PostgreSQL on 127.0.0.1:%d, ctms serve on %s, ctms-brazefake on %s", d.pg.port, d.api, d.fakeURL)
	return d, nil
}

// startReplica starts a `ctms sync` replica and waits for its heartbeat endpoint.
func (d *drill) startReplica() (*replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.started++
	name := fmt.Sprintf("sync-%d", d.started)
	d.mu.Unlock()
	env := append(append([]string{}, d.env...),
		"CTMS_BRAZE_URL="+d.fakeURL, "CTMS_BRAZE_API_KEY="+fakeKey,
		"CTMS_BRAZE_ALIAS_DELAY=2s", "CTMS_SYNC_RETRY_MAX_DELAY=10s", "CTMS_SYNC_REPAIR_DELAY=10s",
		"CTMS_SYNC_METRICS_HOST=127.0.0.1", fmt.Sprintf("CTMS_SYNC_METRICS_PORT=%d", port))
	p, err := launch(name, d.logs, env, d.o.ctmsBin, "sync")
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := &replica{p: p, metricsURL: base + "/metrics", heartbeat: base + "/__heartbeat__"}
	if err := waitHTTP(p, base+"/__lbheartbeat__", 30*time.Second); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.replicas = append(d.replicas, r)
	d.mu.Unlock()
	return r, nil
}

// leader answers the replica whose heartbeat says it leads (nil: none now).
func (d *drill) leader(ctx context.Context) *replica {
	d.mu.Lock()
	rs := append([]*replica{}, d.replicas...)
	d.mu.Unlock()
	for _, r := range rs {
		if r.p.exited() {
			continue
		}
		_, body, err := get(ctx, r.heartbeat)
		if err != nil {
			continue
		}
		var s struct {
			Leader bool `json:"leader"`
		}
		if json.Unmarshal(body, &s) == nil && s.Leader {
			return r
		}
	}
	return nil
}

// waitLeader waits for a leader other than not; it answers it and when it was seen.
func (d *drill) waitLeader(ctx context.Context, not *replica, timeout time.Duration) (*replica, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r := d.leader(ctx); r != nil && r != not {
			return r, time.Now(), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, time.Time{}, fmt.Errorf("no replica took the lead within %s", timeout)
}

func (d *drill) dropReplica(r *replica) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, x := range d.replicas {
		if x == r {
			d.replicas = append(d.replicas[:i], d.replicas[i+1:]...)
			return
		}
	}
}

// caughtUp tells whether the syncer has pushed everything committed: its backlog metric
// is 0, and the drill's own SQL finds both feeds read past every row and nothing queued.
func (d *drill) caughtUp(ctx context.Context) (bool, string) {
	l := d.leader(ctx)
	if l == nil {
		return false, "no leader"
	}
	backlog, err := metric(ctx, l.metricsURL, "ctms_background_braze_sync_backlog")
	if err != nil {
		return false, err.Error()
	}
	var behind, pending, dead int64
	err = d.pool.QueryRow(ctx, `SELECT
		  (SELECT count(*) FROM emails WHERE update_timestamp > coalesce(
		     (SELECT position_ts FROM braze_sync_cursor WHERE feed = 'updates'), '-infinity'))
		+ (SELECT count(*) FROM deletion_tombstones WHERE deleted_at > coalesce(
		     (SELECT position_ts FROM braze_sync_cursor WHERE feed = 'deletions'), '-infinity')),
		  (SELECT count(*) FROM braze_sync_contacts WHERE (pending AND NOT dead) OR repair_at IS NOT NULL),
		  (SELECT count(*) FROM braze_sync_contacts WHERE dead)`).Scan(&behind, &pending, &dead)
	if err != nil {
		return false, err.Error()
	}
	return backlog == 0 && behind == 0 && pending == 0,
		fmt.Sprintf("backlog metric %.0f, rows past the cursors %d, queued or to repair %d, dead letters %d", backlog, behind, pending, dead)
}

// waitCaughtUp waits until caughtUp (twice in a row, 2 s apart: the metric is refreshed
// every 2 s).
func (d *drill) waitCaughtUp(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := d.caughtUp(ctx)
		last = why
		if ok {
			time.Sleep(2100 * time.Millisecond)
			if ok, why = d.caughtUp(ctx); ok {
				return time.Since(start), nil
			}
			last = why
		}
		time.Sleep(250 * time.Millisecond)
	}
	return 0, fmt.Errorf("the syncer did not catch up within %s: %s", timeout, last)
}

func (d *drill) fakeState(ctx context.Context) (*fakeState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.fakeURL+"/_state", nil) // #nosec G704 -- the drill's own fake on loopback
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req) // #nosec G704 -- loopback
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s fakeState
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("GET /_state: %w", err)
	}
	return &s, nil
}

func (d *drill) setFaults(ctx context.Context, f map[string]any) error {
	return putJSON(ctx, d.fakeURL+"/_faults", f)
}

func (d *drill) tearDown() {
	d.mu.Lock()
	rs := append([]*replica{}, d.replicas...)
	d.mu.Unlock()
	for _, r := range rs {
		r.p.stop()
	}
	for _, p := range []*proc{d.serve, d.fake} {
		if p != nil {
			p.stop()
		}
	}
	if d.pool != nil {
		d.pool.Close()
	}
	if d.pg != nil {
		_ = d.pg.ctl("stop")
	}
	if d.o.keep {
		logf("kept %s", d.dir)
		return
	}
	_ = os.RemoveAll(d.dir)
}
