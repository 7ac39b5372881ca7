package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/version"
)

// serveCmd runs the HTTP API until SIGINT/SIGTERM.
type serveCmd struct{}

// Run serves on HOST:PORT. Once the logger exists, every message, a failure
// included, is a line of it (MozLog JSON in production).
func (serveCmd) Run(sio stdio) error {
	cfg, err := config.Load()
	if err == nil {
		err = cfg.ValidateForServing()
	}
	if err != nil {
		fmt.Fprintf(sio.Err, "Error: invalid configuration:\n%s\n", err)
		return exitCode(1)
	}
	logger := obs.NewLogger(sio.Out, cfg.UseMozlog, cfg.LoggingLevel)
	slog.SetDefault(logger)
	if err := serve(cfg, logger); err != nil {
		if _, ok := errors.AsType[exitCode](err); ok {
			return err
		}
		logger.Log(context.Background(), obs.LevelCritical, "ctms serve failed", obs.LoggerKey, "uvicorn.error", "error", err.Error())
		return exitCode(1)
	}
	return nil
}

// serve runs the server until a signal, then shuts down: /__lbheartbeat__
// answers 503 for CTMS_SHUTDOWN_DRAIN while everything is still served (load
// balancers take the instance out), then the listener closes and in-flight
// requests get CTMS_SHUTDOWN_GRACE to finish. A second signal ends it at once.
// serveGCPercent is the collector's GOGC for `ctms serve` when the environment
// sets none: the service's live heap is small (tens of MB), so collecting at
// twice Go's default growth halves the collections, which were 5-15% of its CPU
// under load (docs/performance.md), for a few MB more (peak RSS, with a login's
// argon2 memory, is measured by `make bench`).
const serveGCPercent = 200

// tuneGC sets serveGCPercent unless GOGC is set; it returns the percent in force.
func tuneGC(getenv func(string) string) int {
	if v := getenv("GOGC"); v != "" {
		p := debug.SetGCPercent(-1) // read the runtime's value (from GOGC)...
		debug.SetGCPercent(p)       // ...and put it back
		return p
	}
	debug.SetGCPercent(serveGCPercent)
	return serveGCPercent
}

func serve(cfg *config.Config, logger *slog.Logger) error {
	tuneGC(os.Getenv)
	metrics := obs.NewMetrics()
	opts := []httpapi.Option{httpapi.WithLogger(logger), httpapi.WithMetrics(metrics)}
	if cfg.SentryDSN != "" {
		if err := sentry.Init(sentry.ClientOptions{
			Dsn: cfg.SentryDSN, Release: version.Current().Version, Debug: cfg.SentryDebug,
			SendDefaultPII: false,
			// The SDK's debug output (asked for with CTMS_SENTRY_DEBUG) goes through
			// the logger too, at INFO so that the default level shows it.
			DebugWriter: slog.NewLogLogger(logger.With(obs.LoggerKey, "sentry").Handler(), slog.LevelInfo).Writer(),
		}); err != nil {
			return fmt.Errorf("SENTRY_DSN: %w", err)
		}
		defer sentry.Flush(2 * time.Second)
	}

	sig := newShutdownSignals()
	defer sig.stop()
	ctx := sig.first

	pool, err := openPool(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := metrics.RegisterPool("primary", pool); err != nil {
		return err
	}
	if cfg.DBReadURL != "" {
		reads, err := openReadPool(ctx, cfg)
		if err != nil {
			return err
		}
		defer reads.Close()
		if err := metrics.RegisterPool("read", reads); err != nil {
			return err
		}
		opts = append(opts, httpapi.WithReadDB(reads))
	}

	// The access feed listens on a connection of its own (not from the pool) for changes to
	// API clients, roles and waitlist field rules, so that the caches it guards never serve
	// a stale entry (internal/accessfeed). LISTEN needs a session: CTMS_DB_LISTEN_URL names
	// one when CTMS_DB_URL goes through a transaction-pooling PgBouncer.
	listenCfg, err := poolConfig("CTMS_DB_LISTEN_URL", cfg.DBListenURL, cfg)
	if err != nil {
		return err
	}
	feed := accessfeed.Start(&listenCfg.ConnConfig.Config, logger)
	defer feed.Close()
	opts = append(opts, httpapi.WithAccessFeed(feed))

	handler, err := httpapi.New(ctx, cfg, pool, pool, append(opts, httpapi.WithDrain(ctx))...)
	if err != nil {
		return err
	}
	// Deletion tombstones older than the retention go away every hour; the purge
	// stops before the pool closes (deferred calls run in reverse order).
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		purgeDeletions(purgeCtx, store.New(pool), cfg.DeletionsRetention, deletionsPurgeInterval, logger)
	}()
	defer func() { stopPurge(); <-purged }()
	srv := httpServer(cfg, handler, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("serving", obs.LoggerKey, "uvicorn.error", "addr", cfg.Addr(), "version", version.Current().Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", obs.LoggerKey, "uvicorn.error", "drain", cfg.ShutdownDrain.String(), "grace", cfg.ShutdownGrace.String())
	select {
	case <-time.After(cfg.ShutdownDrain):
	case <-sig.second:
		return sig.forced(logger, srv)
	}
	// Stop accepting, let in-flight requests finish within the grace period;
	// the deferred pool.Close runs after.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(shutdownCtx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case <-sig.second:
		return sig.forced(logger, srv)
	}
}

// httpServer is the server of handler, with the limits of the configuration.
func httpServer(cfg *config.Config, handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr(),
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// net/http's own messages (a panic it recovered, a handler's superfluous
		// WriteHeader, accept errors) are lines of the logger too, not of log.Default.
		ErrorLog: slog.NewLogLogger(logger.With(obs.LoggerKey, "uvicorn.error").Handler(), slog.LevelError),
	}
}

// shutdownSignals tells the first SIGINT/SIGTERM (first is done) from a later
// one (second is closed).
type shutdownSignals struct {
	first  context.Context
	second chan struct{}
	stop   func()
}

func newShutdownSignals() *shutdownSignals {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	first, cancel := context.WithCancel(context.Background())
	s := &shutdownSignals{first: first, second: make(chan struct{})}
	quit := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case <-ch:
			case <-quit:
				return
			}
			if n == 0 {
				cancel()
			} else {
				close(s.second)
				return
			}
		}
	}()
	s.stop = func() { signal.Stop(ch); close(quit); cancel() }
	return s
}

// forced ends the server at once: connections are closed, in-flight requests
// cut off (their contexts end, so their database work stops too).
func (*shutdownSignals) forced(logger *slog.Logger, srv *http.Server) error {
	logger.Warn("second signal: exiting at once", obs.LoggerKey, "uvicorn.error")
	_ = srv.Close()
	return exitCode(1)
}

// openPool connects to CTMS_DB_URL (pool.go: sizing, UTC sessions, reset after a
// failover) and waits for the database to answer.
func openPool(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pc, err := poolConfig("CTMS_DB_URL", cfg.DBURL, cfg)
	if err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, pc)
	if err != nil {
		return nil, err
	}
	if err := waitForDatabase(ctx, pool, cfg.DBPoolTimeout, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Start-up retry delays: the first retry comes soon, later ones at most every 2 s.
const (
	firstRetryDelay = 100 * time.Millisecond
	maxRetryDelay   = 2 * time.Second
)

// waitForDatabase pings the pool until the database answers, for at most timeout
// (CTMS_DB_POOL_TIMEOUT_IN_SECONDS): a container often starts before its database.
func waitForDatabase(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for delay := firstRetryDelay; ; delay = min(2*delay, maxRetryDelay) {
		err := pool.Ping(ctx)
		if err == nil {
			if lastErr != nil {
				logger.Info("database reachable", obs.LoggerKey, "uvicorn.error")
			}
			return nil
		}
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err // not the deadline's own error, which says less
		}
		if ctx.Err() == nil && delay == firstRetryDelay {
			logger.Warn("database not reachable yet, retrying", obs.LoggerKey, "uvicorn.error",
				"timeout", timeout.String(), "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not reachable within %s: %w", timeout, lastErr)
		case <-time.After(delay):
		}
	}
}
