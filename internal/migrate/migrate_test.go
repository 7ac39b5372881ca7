package migrate_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/migrate"
	"github.com/ctms-go/ctms/internal/testdb"
	ctmssql "github.com/ctms-go/ctms/sql"
)

// allVersions is what goose_db_version holds after Up: 0 and every embedded migration.
func allVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(ctmssql.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	versions := []int64{0}
	for _, n := range names {
		prefix, _, _ := strings.Cut(strings.TrimPrefix(n, "migrations/"), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		require.NoError(t, err, n)
		versions = append(versions, v)
	}
	return versions
}

// emptyDatabase returns a pool on a new database as CREATE DATABASE makes it: testdb's
// migrated database recreated from template0 under the same name (so testdb still drops it).
func emptyDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	url := testdb.NewDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, testdb.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := pgx.Identifier{cfg.Database}.Sanitize()
	_, err = admin.Exec(ctx, "DROP DATABASE "+name)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0")
	require.NoError(t, err)
	return connect(t, url)
}

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func appliedVersions(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY version_id")
	require.NoError(t, err)
	var versions []int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	return versions
}

func TestUpFreshDatabaseIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := emptyDatabase(t)

	require.NoError(t, migrate.Up(ctx, pool, nil))
	require.NoError(t, migrate.Up(ctx, pool, nil))
	require.Equal(t, allVersions(t), appliedVersions(t, pool))

	var rev string
	require.NoError(t, pool.QueryRow(ctx, "SELECT version_num FROM alembic_version").Scan(&rev))
	require.Equal(t, migrate.AlembicHead, rev)

	status, err := migrate.Status(ctx, pool, nil)
	require.NoError(t, err)
	require.NotEmpty(t, status)
	for _, s := range status {
		require.Equal(t, goose.StateApplied, s.State, s.Source.Path)
	}
}

func TestUpConcurrent(t *testing.T) {
	ctx := context.Background()
	pool := emptyDatabase(t)
	url := pool.Config().ConnString()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		p := connect(t, url)
		wg.Go(func() { errs[i] = migrate.Up(ctx, p, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, allVersions(t), appliedVersions(t, pool))
}

// A database built by the Python CTMS has the schema of migration 1 and alembic_version but no
// goose table, and may carry objects of its own.
func pythonDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := emptyDatabase(t)
	require.NoError(t, migrate.UpTo(context.Background(), pool, nil, 1))
	_, err := pool.Exec(context.Background(), `DROP TABLE goose_db_version;
		CREATE INDEX ops_tmp_opted_out ON emails (has_opted_out_of_email);
		INSERT INTO emails (primary_email) VALUES ('kept@example.com')`)
	require.NoError(t, err)
	return pool
}

func TestUpBaselinesPythonDatabase(t *testing.T) {
	ctx := context.Background()
	pool := pythonDatabase(t)

	require.NoError(t, migrate.Up(ctx, pool, nil))
	require.Equal(t, allVersions(t), appliedVersions(t, pool))
	require.NoError(t, migrate.Up(ctx, pool, nil))
	require.Equal(t, allVersions(t), appliedVersions(t, pool))

	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM emails").Scan(&n))
	require.Equal(t, 1, n, "existing rows are kept")
	var hasIndex bool
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT to_regclass('ops_tmp_opted_out') IS NOT NULL").Scan(&hasIndex))
	require.True(t, hasIndex, "unknown objects are left alone")
}

func TestStatusBaselinesPythonDatabase(t *testing.T) {
	ctx := context.Background()
	pool := pythonDatabase(t)

	status, err := migrate.Status(ctx, pool, nil)
	require.NoError(t, err)
	require.Equal(t, goose.StateApplied, status[0].State)
	require.NoError(t, migrate.Up(ctx, pool, nil))
}

func TestUpRefusesOldAlembicRevision(t *testing.T) {
	ctx := context.Background()
	pool := pythonDatabase(t)
	_, err := pool.Exec(ctx, "UPDATE alembic_version SET version_num = '0123456789ab'")
	require.NoError(t, err)

	err = migrate.Up(ctx, pool, nil)
	require.ErrorContains(t, err, `alembic revision "0123456789ab"`)
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists))
	require.False(t, exists, "nothing recorded on refusal")
}
