package testdb

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestPoolIsMigratedAndShared(t *testing.T) {
	ctx := context.Background()
	pool := Pool(t)
	require.Same(t, pool, Pool(t), "one pool per test binary")

	var version string
	require.NoError(t, pool.QueryRow(ctx, "SELECT version_num FROM alembic_version").Scan(&version))
	require.Equal(t, "2b00e4069aea", version)

	var tz string
	require.NoError(t, pool.QueryRow(ctx, "SHOW timezone").Scan(&tz))
	require.Equal(t, "UTC", tz)

	var dbName string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_database()").Scan(&dbName))
	require.True(t, strings.HasPrefix(dbName, "ctms_t_"), dbName)
	require.True(t, strings.HasSuffix(URL(t), "/"+dbName), URL(t))
}

func TestNewDatabaseIsIsolatedAndDropped(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("Use", func(t *testing.T) {
		u := NewDatabase(t)
		require.NotEqual(t, URL(t), u)
		conn, err := pgx.Connect(ctx, u)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		_, err = conn.Exec(ctx, "INSERT INTO roles (name) VALUES ('isolated')")
		require.NoError(t, err)

		var n int
		require.NoError(t, Pool(t).QueryRow(ctx, "SELECT count(*) FROM roles WHERE name = 'isolated'").Scan(&n))
		require.Zero(t, n, "the shared database must not see the other database's rows")
	})
	require.NotEmpty(t, name)

	var exists bool
	require.NoError(t, Pool(t).QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s should be dropped at cleanup", name)
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql://postgres@127.0.0.1:5432/postgres":       "postgresql://postgres@127.0.0.1:5432/x",
		"postgres://u:p@h/postgres?sslmode=disable":           "postgres://u:p@h/x?sslmode=disable",
		"postgresql://postgres@127.0.0.1:5432":                "postgresql://postgres@127.0.0.1:5432/x",
		"postgresql:///postgres?host=/run/pg&dbname=postgres": "postgresql:///x?host=%2Frun%2Fpg",
		"host=127.0.0.1 user=postgres dbname=postgres":        "host=127.0.0.1 user=postgres dbname=postgres dbname=x",
	} {
		got, err := withDatabase(in, "x")
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
}

func TestTemplateNameIsStable(t *testing.T) {
	a, err := templateName()
	require.NoError(t, err)
	b, err := templateName()
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Regexp(t, `^ctms_tmpl_[0-9a-f]{12}$`, a)
}
