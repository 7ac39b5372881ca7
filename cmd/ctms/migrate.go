package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/migrate"
	"github.com/ctms-go/ctms/internal/store"
)

// migrateCmd applies the schema migrations: the Go counterpart of `alembic upgrade head`.
// On a database built by the Python CTMS it only records that the schema is already there.
type migrateCmd struct{}

func (m *migrateCmd) Run(sio stdio) error {
	cfg, err := config.Load()
	if err == nil {
		err = cfg.ValidateForMigrating()
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pool, err := pgxpool.New(ctx, cfg.DBURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()

	logger := slog.New(slog.NewTextHandler(sio.Err, &slog.HandlerOptions{Level: cfg.LoggingLevel}))
	if err := migrate.Up(ctx, pool, logger); err != nil {
		return err
	}
	if err := installDeletionHashKey(ctx, store.New(pool), cfg.DeletionHashKey, logger); err != nil {
		return err
	}
	status, err := migrate.Status(ctx, pool, logger)
	if err != nil {
		return err
	}
	var version int64
	for _, s := range status {
		if s.State == goose.StateApplied {
			version = max(version, s.Source.Version)
		}
	}
	fmt.Fprintf(sio.Out, "Database schema is up to date (migration version %d).\n", version)
	return nil
}
