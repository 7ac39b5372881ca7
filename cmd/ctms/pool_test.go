package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/testdb"
)

func TestPoolSettings(t *testing.T) {
	cfg := &config.Config{DBPoolSize: 5, DBMaxOverflow: 10, DBPoolRecycle: 900 * time.Second,
		DBReadURL: "postgresql://postgres@127.0.0.1:1,127.0.0.1:2/ctms"}
	pc, err := poolConfig("CTMS_DB_URL", "postgresql://postgres@127.0.0.1:1,127.0.0.1:2/ctms?target_session_attrs=read-write", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pc.MaxConns != 15 || pc.MinConns != 5 || pc.MaxConnIdleTime != overflowIdleTime || pc.ConnConfig.ConnectTimeout != defaultConnectTimeout || pc.HealthCheckPeriod != healthCheckPeriod {
		t.Errorf("pool: MaxConns %d, MinConns %d, MaxConnIdleTime %s, ConnectTimeout %s, HealthCheckPeriod %s",
			pc.MaxConns, pc.MinConns, pc.MaxConnIdleTime, pc.ConnConfig.ConnectTimeout, pc.HealthCheckPeriod)
	}
	if pc.ConnConfig.RuntimeParams["application_name"] != "ctms" { // /updates' in-flight check relies on it
		t.Errorf("application_name %q", pc.ConnConfig.RuntimeParams["application_name"])
	}
	pc, err = poolConfig("CTMS_DB_URL", "postgresql://postgres@127.0.0.1:1/ctms?connect_timeout=2", cfg)
	if err != nil || pc.ConnConfig.ConnectTimeout != 2*time.Second {
		t.Errorf("connect_timeout from the URL: %v %v", pc.ConnConfig.ConnectTimeout, err)
	}

	reads, err := openReadPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reads.Close()
	rc := reads.Config()
	if rc.ConnConfig.ValidateConnect == nil {
		t.Error("the read pool prefers standbys unless the URL says otherwise")
	}
	if rc.MaxConnLifetime != readConnLifetime {
		t.Errorf("read pool MaxConnLifetime %s", rc.MaxConnLifetime)
	}
}

func TestServerChanged(t *testing.T) {
	ctx := context.Background()
	for code, want := range map[string]bool{"25006": true, "57P01": true, "57P02": true, "57P03": true, "23505": false, "57014": false} {
		if got := serverChanged(ctx, nil, &pgconn.PgError{Code: code}); got != want {
			t.Errorf("SQLSTATE %s: %v, want %v", code, got, want)
		}
	}
}

// A statement refused because its connection was closed before it started says nothing
// about the server: pgx closes a connection whose request was cancelled mid-query (a
// client that went away), and the next statement on it fails with "conn closed". Only
// a connection that dies under a statement of a live request means the server went.
func TestServerChangedNotForAConnectionClosedBefore(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closedBefore := fmt.Errorf("failed to deallocate cached statement(s): %w", pgconn.ErrConnClosed)
	if serverChanged(ctx, conn, closedBefore) {
		t.Error("a statement on a connection closed before it started reset the pool")
	}
	if !serverChanged(ctx, conn, fmt.Errorf("read: %w", context.DeadlineExceeded)) {
		t.Error("a connection that died under a statement of a live request is a server change")
	}
}

// `ctms serve` collects garbage at GOGC=200 unless GOGC says otherwise.
func TestServeGCPercent(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	if got := tuneGC(func(string) string { return "" }); got != serveGCPercent || debug.SetGCPercent(100) != serveGCPercent {
		t.Errorf("without GOGC: %d, want %d", got, serveGCPercent)
	}
	debug.SetGCPercent(150) // as GOGC=150 would have set it
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "150"}[k] }); got != 150 || debug.SetGCPercent(100) != 150 {
		t.Errorf("with GOGC=150: %d, want it kept", got)
	}
}
