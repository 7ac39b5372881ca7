package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/migrate"
)

// TestServeGivesUpAfterPoolTimeout: with nothing listening at CTMS_DB_URL, `ctms serve`
// keeps trying for CTMS_DB_POOL_TIMEOUT_IN_SECONDS, then exits 1 naming the cause.
func TestServeGivesUpAfterPoolTimeout(t *testing.T) {
	const wait = 3 * time.Second
	bin := buildCTMS(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = serveEnv(fmt.Sprintf("CTMS_DB_URL=postgresql://postgres@127.0.0.1:%d/ctms", freePort(t)),
		"CTMS_SECRET_KEY="+procSecretKey, "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", freePort(t)),
		fmt.Sprintf("CTMS_DB_POOL_TIMEOUT_IN_SECONDS=%d", int(wait/time.Second)), "CTMS_USE_MOZLOG=false")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	if took < wait-200*time.Millisecond || took > wait+10*time.Second {
		t.Errorf("gave up after %s, want about %s", took.Round(time.Millisecond), wait)
	}
	for _, want := range []string{"database not reachable yet, retrying", "database not reachable within 3s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeWaitsForDatabase: `ctms serve` started before its database (as containers often
// are) waits for it, retrying, and serves once it is up, within CTMS_DB_POOL_TIMEOUT_IN_SECONDS.
func TestServeWaitsForDatabase(t *testing.T) {
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
	pg.stop(t)

	port := freePort(t)
	p := launchServe(t, bin, port, serveEnv("CTMS_DB_URL="+pg.url("postgres"), "CTMS_SECRET_KEY="+procSecretKey,
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "CTMS_DB_POOL_TIMEOUT_IN_SECONDS=60", "CTMS_USE_MOZLOG=false"))
	select {
	case <-p.done:
		t.Fatalf("ctms serve exited while the database was down: %v\n%s", p.err, p.out.String())
	case <-time.After(3 * time.Second):
	}
	if !strings.Contains(p.out.String(), "database not reachable yet, retrying") {
		t.Errorf("no warning while waiting:\n%s", p.out.String())
	}
	pg.start(t)
	p.waitReady(t, 30*time.Second)
	resp, err := http.Get(p.base + "/__heartbeat__")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/__heartbeat__ answered %d once the database is up", resp.StatusCode)
	}
}
