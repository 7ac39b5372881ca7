package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/version"
)

// serveCmd runs the HTTP API until SIGINT/SIGTERM.
type serveCmd struct{}

// Run serves on HOST:PORT.
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
	opts := []httpapi.Option{httpapi.WithLogger(logger), httpapi.WithMetrics(obs.NewMetrics())}
	if cfg.SentryDSN != "" {
		if err := sentry.Init(sentry.ClientOptions{
			Dsn: cfg.SentryDSN, Release: version.Current().Version, Debug: cfg.SentryDebug,
			SendDefaultPII: false,
		}); err != nil {
			return fmt.Errorf("SENTRY_DSN: %w", err)
		}
		defer sentry.Flush(2 * time.Second)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pool, err := openPool(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.DBReadURL != "" {
		reads, err := openReadPool(ctx, cfg)
		if err != nil {
			return err
		}
		defer reads.Close()
		opts = append(opts, httpapi.WithReadDB(reads))
	}

	handler, err := httpapi.New(ctx, cfg, pool, pool, opts...)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.Addr(),
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("serving", obs.LoggerKey, "uvicorn.error", "addr", cfg.Addr(), "version", version.Current().Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight requests finish within the grace period;
	// the deferred pool.Close runs after.
	logger.Info("shutting down", obs.LoggerKey, "uvicorn.error", "grace", cfg.ShutdownGrace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
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
