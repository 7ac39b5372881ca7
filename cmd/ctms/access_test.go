package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/testdb"
)

// TestServeAccessChangesReachEveryProcess: two `ctms serve` processes on one database (each
// with its own pool and listener) see a client disabled through the CLI, re-enabled in plain
// SQL, and disabled again after their listeners' connections were killed, within a second.
func TestServeAccessChangesReachEveryProcess(t *testing.T) {
	bin := buildCTMS(t)
	dbURL := testdb.NewDatabase(t)
	env := serveEnv("CTMS_DB_URL="+dbURL, "CTMS_SECRET_KEY="+procSecretKey, "HOST=127.0.0.1")
	const clientID = "id_access"
	secret := createAdminClient(t, bin, env, clientID)
	var clients []*apiClient
	for range 2 {
		port := freePort(t)
		p := startServe(t, bin, port, append(env, fmt.Sprintf("PORT=%d", port)))
		c := newAPIClient(p.base)
		c.login(t, clientID, secret)
		clients = append(clients, c)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	exec1 := func(sql string, args ...any) {
		t.Helper()
		testdb.Exec(t, pool, sql, args...)
	}
	listeners := func() int {
		t.Helper()
		return testdb.Count(t, pool, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, accessfeed.ApplicationName)
	}
	path := "/ctms/" + uuid.NewString()
	expect := func(want int, why string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for i, c := range clients {
			for {
				r := c.do(context.Background(), "get", "GET", path, "", "")
				if r.err == nil && r.status == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("process %d: %s, not %d, 1 s after %s", i, r, want, why)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	waitListeners := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for listeners() != len(clients) {
			if time.Now().After(deadline) {
				t.Fatalf("%d listeners, want %d", listeners(), len(clients))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitListeners()
	expect(http.StatusNotFound, "start-up")
	expect(http.StatusNotFound, "start-up") // now cached

	cmd := exec.Command(bin, "clients", "disable", "--yes", clientID)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctms clients disable: %v\n%s", err, out)
	}
	expect(http.StatusBadRequest, "ctms clients disable")
	exec1(`UPDATE api_client SET enabled = true WHERE client_id = $1`, clientID)
	expect(http.StatusNotFound, "enabling in SQL")

	exec1(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, accessfeed.ApplicationName)
	exec1(`UPDATE api_client SET enabled = false WHERE client_id = $1`, clientID)
	expect(http.StatusBadRequest, "disabling while the listeners reconnect")
	waitListeners()
	exec1(`UPDATE api_client SET enabled = true WHERE client_id = $1`, clientID)
	expect(http.StatusNotFound, "enabling after the listeners reconnected")
	expect(http.StatusNotFound, "enabling after the listeners reconnected") // cached again
	exec1(`DELETE FROM api_client WHERE client_id = $1`, clientID)
	expect(http.StatusUnauthorized, "deleting the client")
}
