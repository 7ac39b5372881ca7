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
	"github.com/ctms-go/ctms/internal/store"
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

	pool, err := openPool(ctx, cfg)
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
	// Deletion tombstones older than the retention go away every hour; the purge
	// stops before the pool closes (deferred calls run in reverse order).
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		purgeDeletions(purgeCtx, store.New(pool), cfg.DeletionsRetention, deletionsPurgeInterval, logger)
	}()
	defer func() { stopPurge(); <-purged }()
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
// failover) and checks the database answers.
func openPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pc, err := poolConfig("CTMS_DB_URL", cfg.DBURL, cfg)
	if err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, pc)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.DBPoolTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database not reachable: %w", err)
	}
	return pool, nil
}
