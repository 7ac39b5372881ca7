// Package migrate applies the embedded schema migrations (sql/migrations, goose
// format) and takes over databases built by the Python CTMS's alembic.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	ctmssql "github.com/ctms-go/ctms/sql"
)

// AlembicHead is the alembic revision of the Python CTMS schema that migration 1 reproduces.
const AlembicHead = "2b00e4069aea"

// baselineLockID serialises concurrent baselines of one database (advisory locks are per database).
const baselineLockID int64 = 0x63746d73_62617365 // "ctmsbase"

// Up brings the database to the latest migration. A Python CTMS database at alembic head
// (AlembicHead in alembic_version, no goose version table) gets migration 1 recorded as applied
// without running it. Concurrent callers are serialised by a PostgreSQL advisory lock.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	return upTo(ctx, pool, logger, 0)
}

// UpTo is Up stopping at migration version (tests use it to look at one version's schema).
func UpTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, version int64) error {
	if version < 1 {
		return fmt.Errorf("migrate up to %d: version must be at least 1", version)
	}
	return upTo(ctx, pool, logger, version)
}

// upTo applies the migrations up to version, or all of them when version is 0.
func upTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, version int64) error {
	logger = orDiscard(logger)
	return withProvider(ctx, pool, logger, func(p *goose.Provider) error {
		var results []*goose.MigrationResult
		var err error
		if version == 0 {
			results, err = p.Up(ctx)
		} else {
			results, err = p.UpTo(ctx, version)
		}
		if err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		for _, r := range results {
			logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path,
				"duration", r.Duration)
		}
		return nil
	})
}

// Status reports every known migration and whether the database has it applied.
// Like Up, it records the baseline on a Python CTMS database first.
func Status(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]*goose.MigrationStatus, error) {
	logger = orDiscard(logger)
	var status []*goose.MigrationStatus
	err := withProvider(ctx, pool, logger, func(p *goose.Provider) error {
		var err error
		if status, err = p.Status(ctx); err != nil {
			return fmt.Errorf("migration status: %w", err)
		}
		return nil
	})
	return status, err
}

func withProvider(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, fn func(*goose.Provider) error) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	if err := baseline(ctx, db, logger); err != nil {
		return err
	}
	migrations, err := fs.Sub(ctmssql.Migrations, "migrations")
	if err != nil {
		return fmt.Errorf("open embedded migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // wait up to 5 min
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker), goose.WithSlog(logger), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("create migration provider: %w", err)
	}
	return fn(p)
}

func orDiscard(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}

// baseline records migration 1 as applied on a database created by the Python CTMS, which has
// the same schema but no goose version table. It does nothing on any other database.
func baseline(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("baseline: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", baselineLockID); err != nil {
		return fmt.Errorf("baseline: lock: %w", err)
	}
	var hasGoose, hasAlembic bool
	if err := tx.QueryRowContext(ctx,
		"SELECT to_regclass($1) IS NOT NULL, to_regclass('alembic_version') IS NOT NULL",
		goose.DefaultTablename).Scan(&hasGoose, &hasAlembic); err != nil {
		return fmt.Errorf("baseline: inspect database: %w", err)
	}
	if hasGoose || !hasAlembic {
		return nil
	}

	revisions, err := alembicRevisions(ctx, tx)
	if err != nil {
		return err
	}
	if len(revisions) != 1 || revisions[0] != AlembicHead {
		return fmt.Errorf("baseline: database is at alembic revision %q, expected %q: upgrade it with "+
			"the Python CTMS (alembic upgrade head) first", strings.Join(revisions, ","), AlembicHead)
	}

	store, err := database.NewStore(database.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return fmt.Errorf("baseline: create version table: %w", err)
	}
	for _, v := range []int64{0, 1} {
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("baseline: commit: %w", err)
	}
	logger.Info("existing Python CTMS database: migration 1 recorded as applied",
		"alembic_revision", AlembicHead)
	return nil
}

func alembicRevisions(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version_num FROM alembic_version ORDER BY version_num")
	if err != nil {
		return nil, fmt.Errorf("baseline: read alembic_version: %w", err)
	}
	defer rows.Close()
	var revs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("baseline: read alembic_version: %w", err)
		}
		revs = append(revs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("baseline: read alembic_version: %w", err)
	}
	if len(revs) == 0 {
		return nil, errors.New("baseline: alembic_version is empty: not a Python CTMS database at head")
	}
	return revs, nil
}
