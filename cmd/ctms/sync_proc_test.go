package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/brazefake"
	"github.com/ctms-go/ctms/internal/testdb"
)

// syncProc is a running `ctms sync`.
type syncProc struct {
	cmd  *exec.Cmd
	base string
	out  syncBuffer
	done chan struct{}
}

func launchSync(t *testing.T, bin string, env []string) *syncProc {
	t.Helper()
	port := freePort(t)
	p := &syncProc{base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "sync")
	p.cmd.Env = append(env, "CTMS_SYNC_METRICS_HOST=127.0.0.1", fmt.Sprintf("CTMS_SYNC_METRICS_PORT=%d", port))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("ctms sync output (last 3000 bytes):\n%s", tail(p.out.String(), 3000))
		}
	})
	return p
}

// leader tells whether the replica's /__heartbeat__ says it is the active one.
func (p *syncProc) leader() bool {
	resp, err := http.Get(p.base + "/__heartbeat__")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Leader bool `json:"leader"`
	}
	return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Leader
}

// TestSyncKill9Takeover runs two `ctms sync` processes against a fake Braze: one
// leads; killed with SIGKILL, the other takes over within seconds and pushes what
// follows.
func TestSyncKill9Takeover(t *testing.T) {
	bin := buildCTMS(t)
	url := testdb.NewDatabase(t)
	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	fake := brazefake.New(brazefake.Options{APIKey: "proc-key"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := serveEnv("CTMS_DB_URL="+url, "CTMS_SECRET_KEY="+procSecretKey, "CTMS_BRAZE_URL="+srv.URL,
		"CTMS_BRAZE_API_KEY=proc-key", "CTMS_SYNC_POLL_INTERVAL=100ms", "CTMS_USE_MOZLOG=false")
	a, b := launchSync(t, bin, env), launchSync(t, bin, env)

	insert := func(email string) string {
		id := uuid.NewString()
		_, err := pool.Exec(t.Context(), `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, email)
		require.NoError(t, err)
		return id
	}
	var first, other *syncProc
	require.Eventually(t, func() bool {
		la, lb := a.leader(), b.leader()
		if la != lb {
			first, other = a, b
			if lb {
				first, other = b, a
			}
			return true
		}
		return false
	}, 60*time.Second, 50*time.Millisecond, "one leader")
	id1 := insert("kill-one@example.com")
	require.Eventually(t, func() bool { _, ok := fake.Profile(id1); return ok }, 20*time.Second, 50*time.Millisecond)

	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.done
	killed := time.Now()
	require.Eventually(t, other.leader, 10*time.Second, 20*time.Millisecond, "the other replica takes over")
	t.Logf("took over %s after the kill", time.Since(killed).Round(time.Millisecond))
	id2 := insert("kill-two@example.com")
	require.Eventually(t, func() bool { _, ok := fake.Profile(id2); return ok }, 20*time.Second, 50*time.Millisecond)
}
