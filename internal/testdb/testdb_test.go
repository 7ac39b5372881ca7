package testdb

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"regexp"
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

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestRunDropsPackageDatabase runs this test binary again as a child that uses Pool, then
// checks that the child's package database is gone once the child has exited.
func TestRunDropsPackageDatabase(t *testing.T) {
	if os.Getenv("TESTDB_CHILD") != "" {
		var name string
		require.NoError(t, Pool(t).QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
		fmt.Println("database:", name)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunDropsPackageDatabase$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTDB_CHILD=1", EnvURL+"="+AdminURL(t))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`database: (\S+)`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	require.False(t, databaseExists(t, string(m[1])), "the child's database %s is left behind", m[1])
}

// TestSweepDropsDeadOwnersOnly: a database whose owning test binary has ended is dropped by
// the next one that creates a database; one whose owner still holds its lock is kept.
func TestSweepDropsDeadOwnersOnly(t *testing.T) {
	ctx := context.Background()
	admin := AdminURL(t)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	live, err := pgx.Connect(ctx, admin) // stands for a test binary still running
	require.NoError(t, err)
	defer live.Close(ctx)

	var b [4]byte
	_, _ = rand.Read(b[:])
	deadID, liveID := binary.BigEndian.Uint32(b[:]), binary.BigEndian.Uint32(b[:])^0xffff
	_, err = live.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", ownerLockClass, int32(liveID))
	require.NoError(t, err)
	dead, kept := fmt.Sprintf("ctms_t_o%08x_dead_1", deadID), fmt.Sprintf("ctms_t_o%08x_live_1", liveID)
	for _, n := range []string{dead, kept} {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{n}.Sanitize())
		require.NoError(t, err)
	}
	t.Cleanup(func() { _ = dropDatabase(ctx, admin, kept) })

	NewDatabase(t) // sweeps
	require.False(t, databaseExists(t, dead), "a dead owner's database is left")
	require.True(t, databaseExists(t, kept), "a live owner's database was dropped")
}

func TestFindAdminSaysWhatToDo(t *testing.T) {
	u, err := findAdmin("postgresql://x@example.invalid/postgres", DefaultURL)
	require.NoError(t, err)
	require.Equal(t, "postgresql://x@example.invalid/postgres", u, "a set URL is used as it is")

	_, err = findAdmin("", "postgresql://postgres@127.0.0.1:1/postgres")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, err.Error(), "run `make test`")
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), AdminURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}
