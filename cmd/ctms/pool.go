package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/store"
)

const (
	// defaultConnectTimeout bounds each host's connection attempt when the URL has no
	// connect_timeout, so that a dead host of a multi-host URL cannot use up a request's time.
	defaultConnectTimeout = 5 * time.Second
	// healthCheckPeriod: how soon the pool re-creates its steady connections after a reset.
	healthCheckPeriod = 5 * time.Second
	// overflowIdleTime: how long a connection above the pool size may stay idle (SQLAlchemy's
	// pool closes such overflow connections as soon as they are returned).
	overflowIdleTime = time.Minute
	// readConnLifetime caps the read pool's connection age, so that it follows the
	// standbys (target_session_attrs is checked only when a connection opens).
	readConnLifetime = time.Minute
	// resetInterval: at most one pool reset per interval, however many requests fail at once.
	resetInterval = time.Second
)

// poolConfig parses url (the value of the setting named name) with the service's pool
// settings: sized like the Python CTMS's pool (CTMS_DB_POOL_SIZE connections kept open, up
// to CTMS_DB_MAX_OVERFLOW more under load), UTC sessions.
func poolConfig(name, url string, cfg *config.Config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pc.MaxConns = int32(cfg.MaxConns()) // #nosec G115 -- pool size plus overflow: a few dozen connections
	pc.MinConns = int32(cfg.DBPoolSize) // #nosec G115 -- as above
	pc.MaxConnIdleTime = overflowIdleTime
	pc.MaxConnLifetime = cfg.DBPoolRecycle
	pc.MaxConnLifetimeJitter = cfg.DBPoolRecycle / 10
	pc.HealthCheckPeriod = healthCheckPeriod
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.RuntimeParams["application_name"] = "ctms"
	pc.AfterConnect = store.PrepareConn
	return pc, nil
}

// newPool opens a pool that empties itself when its server stops being the primary
// (failoverTracer).
func newPool(ctx context.Context, pc *pgxpool.Config) (*pgxpool.Pool, error) {
	t := &failoverTracer{}
	pc.ConnConfig.Tracer = t
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	t.pool.Store(pool)
	return pool, nil
}

// openReadPool opens the pool of CTMS_DB_READ_URL, with target_session_attrs=prefer-standby
// unless the URL names one. It is not pinged: a standby that is down does not stop the
// service, whose reads then go to the primary (internal/httpapi/reads.go).
func openReadPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pc, err := poolConfig("CTMS_DB_READ_URL", cfg.DBReadURL, cfg)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(cfg.DBReadURL, "target_session_attrs") {
		pc.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsPreferStandby
	}
	pc.MaxConnLifetime = min(pc.MaxConnLifetime, readConnLifetime)
	pc.MaxConnLifetimeJitter = pc.MaxConnLifetime / 10
	return newPool(ctx, pc)
}

// failoverTracer resets its pool (closes every connection: idle ones now, busy ones when
// released) when a statement shows that the server behind the pool has changed role or is
// going away: SQLSTATE 25006 (read-only transaction: the primary was demoted), 57P01-57P03
// (shutting down, crashed, starting up), or a connection that died under a statement whose
// request had not been cancelled (not one already closed when the statement came).
// pgx checks target_session_attrs only when it opens a
// connection; without the reset, each pooled connection to the old primary would fail one
// request before the pool dropped it. New connections walk the multi-host list again and
// land on the new primary.
type failoverTracer struct {
	pool      atomic.Pointer[pgxpool.Pool]
	lastReset atomic.Int64 // Unix ns
}

func (*failoverTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (t *failoverTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.Err == nil || !serverChanged(ctx, conn, data.Err) {
		return
	}
	now, last := time.Now().UnixNano(), t.lastReset.Load()
	if now-last < int64(resetInterval) || !t.lastReset.CompareAndSwap(last, now) {
		return
	}
	if p := t.pool.Load(); p != nil {
		slog.WarnContext(ctx, "database connections reset: the server changed role or went away", "error", data.Err.Error())
		p.Reset()
	}
}

func serverChanged(ctx context.Context, conn *pgx.Conn, err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "25006", "57P01", "57P02", "57P03":
			return true
		}
		return false
	}
	// "conn closed": the statement never reached the server; the connection was closed
	// before it (by a cancelled request, whose own statement was traced then).
	if errors.Is(err, pgconn.ErrConnClosed) {
		return false
	}
	return ctx.Err() == nil && conn.PgConn().IsClosed()
}
