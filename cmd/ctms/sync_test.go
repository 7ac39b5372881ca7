package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazesync"
	"github.com/ctms-go/ctms/internal/config"
)

// fakeBraze is an in-memory braze.ESP: profiles by external id, attributes merged.
type fakeBraze struct {
	mu       sync.Mutex
	profiles map[string]map[string]any
}

func (f *fakeBraze) Track(_ context.Context, attrs []braze.Attributes, _ []braze.Event) ([]braze.MinorError, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range attrs {
		b, _ := json.Marshal(a)
		var n map[string]any
		_ = json.Unmarshal(b, &n)
		id := n["external_id"].(string)
		if f.profiles[id] == nil {
			f.profiles[id] = map[string]any{}
		}
		delete(n, "_update_existing_only")
		maps.Copy(f.profiles[id], n)
	}
	return nil, nil
}

func (f *fakeBraze) Delete(_ context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		delete(f.profiles, id)
	}
	return nil
}

func (f *fakeBraze) NewAliases(context.Context, []braze.Alias) error { return nil }

func (f *fakeBraze) Export(_ context.Context, ids []string) ([]braze.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []braze.Profile
	for _, id := range ids {
		if p, ok := f.profiles[id]; ok {
			out = append(out, maps.Clone(p))
		}
	}
	return out, nil
}

func (f *fakeBraze) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profiles[id] != nil
}

// useFakeBraze makes the sync commands use f.
func useFakeBraze(t *testing.T, f *fakeBraze) {
	t.Helper()
	old := newESP
	newESP = func(*config.Braze, prometheus.Registerer, *slog.Logger) (braze.ESP, error) { return f, nil }
	t.Cleanup(func() { newESP = old })
}

func setupSync(t *testing.T) *clientsBundle {
	t.Helper()
	b := setupClients(t)
	t.Setenv("CTMS_BRAZE_URL", "https://rest.example.braze.com")
	t.Setenv("CTMS_BRAZE_API_KEY", "test-key")
	return b
}

func TestSyncBadConfiguration(t *testing.T) {
	setupClients(t)
	r := runCLI(t, "", "sync")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "Error: invalid configuration:")
	require.Contains(t, r.errOut, "CTMS_BRAZE_URL is required")
	require.Contains(t, r.errOut, "CTMS_BRAZE_API_KEY is required")

	t.Setenv("CTMS_BRAZE_URL", "https://rest.example.braze.com")
	t.Setenv("CTMS_BRAZE_API_KEY", "k")
	t.Setenv("CTMS_BRAZE_ALIAS_DELAY", "later")
	r = runCLI(t, "", "sync", "run")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "CTMS_BRAZE_ALIAS_DELAY invalid duration")
}

func TestSyncMappingCommands(t *testing.T) {
	setupSync(t)
	g := uuid.NewString()
	r := runCLI(t, "", "sync", "mapping", "set", "mozilla-and-you", g, "--title", "Firefox News")
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLI(t, "", "sync", "mapping", "set", "guardian-vpn-waitlist", g)
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLI(t, "", "sync", "mapping", "list")
	require.Equal(t, 0, r.code, r.errOut)
	require.Regexp(t, `guardian-vpn-waitlist\s+`+g+`\s+guardian-vpn-waitlist\n`, r.out)
	require.Regexp(t, `mozilla-and-you\s+`+g+`\s+Firefox News\n`, r.out)

	r = runCLI(t, "", "sync", "mapping", "set", "x", "not-a-uuid")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.errOut, "is not a valid UUID")

	r = runCLI(t, "", "sync", "mapping", "delete", "mozilla-and-you")
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLI(t, "", "sync", "mapping", "delete", "mozilla-and-you")
	require.Equal(t, 4, r.code)
	require.Contains(t, r.out, "not mapped")
}

func TestSyncStatusRetryResync(t *testing.T) {
	b := setupSync(t)
	ctx := t.Context()
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		_, err := b.pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email, update_timestamp) VALUES ($1, $2, $3)`,
			id, fmt.Sprintf("s%d@example.com", i), time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC))
		require.NoError(t, err)
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO braze_sync_contacts (email_id, pending, pending_since, dead, retries, last_error)
		VALUES ($1, true, now(), true, 20, 'braze rejected the attributes object: bad')`, ids[0])
	require.NoError(t, err)

	r := runCLI(t, "", "sync", "status")
	require.Equal(t, 0, r.code, r.errOut)
	require.Contains(t, r.out, "syncer:      none")
	require.Contains(t, r.out, "backlog:     0 contacts")
	require.Contains(t, r.out, "dead letters: 1")
	require.Regexp(t, ids[0]+`\s+20\s+never\s+braze rejected the attributes object: bad`, r.out)

	r = runCLI(t, "", "sync", "retry")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, "1 dead letters queued again.\n", r.out)
	r = runCLI(t, "", "sync", "status")
	require.Contains(t, r.out, "backlog:     1 contacts (0 retrying)")
	require.Contains(t, r.out, "dead letters: 0")

	r = runCLI(t, "", "sync", "resync", "--email-id", ids[1])
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, "1 contacts queued for a full push.\n", r.out)
	r = runCLI(t, "", "sync", "resync", "--since", "2026-01-02")
	require.Equal(t, "2 contacts queued for a full push.\n", r.out)
	r = runCLI(t, "", "sync", "resync", "--all")
	require.Equal(t, "3 contacts queued for a full push.\n", r.out)
	var full int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM braze_sync_contacts WHERE pending AND full_push`).Scan(&full))
	require.Equal(t, 3, full)

	r = runCLI(t, "", "sync", "resync")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.errOut, "Give exactly one of --email-id, --all, --since.")
	r = runCLI(t, "", "sync", "resync", "--all", "--since", "2026-01-01")
	require.Equal(t, 2, r.code)
	r = runCLI(t, "", "sync", "resync", "--since", "yesterday")
	require.Equal(t, 2, r.code)
}

// TestSyncRunAndVerify runs the syncer in-process against a fake Braze: the contacts
// reach it, /metrics and the heartbeats answer on the sync's own port; then verify
// finds a drift made in Braze, and --repair has the syncer push CTMS's state again.
func TestSyncRunAndVerify(t *testing.T) {
	b := setupSync(t)
	port := freePort(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("file-key\n"), 0o600))
	t.Setenv("CTMS_BRAZE_API_KEY", "")
	os.Unsetenv("CTMS_BRAZE_API_KEY")
	t.Setenv("CTMS_BRAZE_API_KEY_FILE", keyFile)
	t.Setenv("CTMS_SYNC_METRICS_HOST", "127.0.0.1")
	t.Setenv("CTMS_SYNC_METRICS_PORT", fmt.Sprint(port))
	t.Setenv("CTMS_SYNC_POLL_INTERVAL", "50ms")
	t.Setenv("CTMS_SYNC_MAX_RETRIES", "5")
	t.Setenv("CTMS_SYNC_RETRY_MAX_DELAY", "2s")
	t.Setenv("CTMS_BRAZE_ALIAS_DELAY", "1s")
	fake := &fakeBraze{profiles: map[string]map[string]any{}}
	useFakeBraze(t, fake)

	cfg, bcfg, err := loadSync()
	require.NoError(t, err)
	require.Equal(t, "file-key", bcfg.APIKey)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runSync(ctx, cfg, bcfg, fake, brazesync.NewMetrics(nil), slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); require.NoError(t, <-done) }()

	ids := []string{uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		_, err := b.pool.Exec(t.Context(), `INSERT INTO emails (email_id, primary_email, mailing_country) VALUES ($1, $2, 'us')`,
			id, fmt.Sprintf("run%d@example.com", i))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return fake.has(ids[0]) && fake.has(ids[1]) }, 10*time.Second, 20*time.Millisecond)

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	require.Eventually(t, func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, `ctms_background_braze_sync_total{action="track"} 2`) &&
			strings.Contains(m, "ctms_background_braze_sync_backlog 0") &&
			strings.Contains(m, "ctms_background_braze_sync_leader 1")
	}, 10*time.Second, 50*time.Millisecond)
	_, m := get("/metrics")
	for _, name := range []string{"ctms_background_braze_sync_retries", "ctms_background_braze_sync_age_seconds",
		"ctms_background_braze_sync_dead_letters", "ctms_background_braze_sync_lag_seconds_bucket",
		"ctms_background_braze_sync_auth_failed 0", `ctms_background_braze_sync_errors_total{kind="auth"} 0`} {
		require.Contains(t, m, name)
	}
	require.NotContains(t, m, "@example.com")
	code, body := get("/__heartbeat__")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"leader":true`)
	code, _ = get("/__lbheartbeat__")
	require.Equal(t, 200, code)

	// Drift in Braze: a changed country, a deleted profile.
	fake.mu.Lock()
	fake.profiles[ids[0]]["country"] = "fr"
	delete(fake.profiles, ids[1])
	fake.mu.Unlock()
	r := runCLI(t, "", "sync", "verify", "--sample", "10")
	require.Equal(t, 3, r.code, r.errOut)
	require.Contains(t, r.out, ids[0]+`: country: braze "fr", ctms "us"`)
	require.Contains(t, r.out, ids[1]+": no profile in Braze")
	require.Contains(t, r.out, "2 of 2 contacts drifted.")

	r = runCLI(t, "", "sync", "verify", "--sample", "10", "--repair")
	require.Equal(t, 3, r.code, r.errOut)
	require.Contains(t, r.out, "2 contacts queued for a push of CTMS's state.")
	require.Eventually(t, func() bool {
		return runCLI(t, "", "sync", "verify", "--sample", "10").code == 0
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, runCLI(t, "", "sync", "verify", "--sample", "10").out, "0 of 2 contacts drifted.")
}
