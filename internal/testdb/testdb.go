// Package testdb gives tests their own migrated PostgreSQL databases.
//
// The server comes from CTMS_TEST_DB_URL (an admin connection, e.g. to the postgres
// database; `make test` sets it), else postgresql://postgres@127.0.0.1:5432/postgres when
// that answers. The migrations are applied once per migration content to a template
// database, ctms_tmpl_<hash>, under an advisory lock so parallel test binaries do not race;
// each test binary then clones it with CREATE DATABASE … TEMPLATE, which takes tens of
// milliseconds.
//
// No test database outlives its tests: NewDatabase drops its database in t.Cleanup, Run
// drops the package's database after the package's tests, and the databases of a test
// binary that died (killed, timed out) are dropped by the next test binary (sweepStale).
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/migrate"
	ctmssql "github.com/ctms-go/ctms/sql"
)

// EnvURL names the variable holding the admin connection URL.
const EnvURL = "CTMS_TEST_DB_URL"

// DefaultURL is the server used when EnvURL is not set (as scripts/testenv.sh chooses it).
const DefaultURL = "postgresql://postgres@127.0.0.1:5432/postgres"

// ownerLockClass is the first key of the advisory lock each test binary holds, for its whole
// life, on the id in its databases' names (the second key); see ownerOf.
const ownerLockClass int32 = 0x63746d73 // "ctms"

// lockID serialises template creation and cloning across test binaries
// (advisory locks are per database: every binary takes it in the admin database).
const lockID int64 = 0x63746d73_74657374 // "ctmstest"

// staleAfter is the age after which a leftover test database of the older naming scheme
// (ctms_t_<unix time>_…, no owner lock) with no connections is dropped.
const staleAfter = time.Hour

var (
	shared struct {
		sync.Mutex
		managed bool // Run is in charge: it drops the database at the end
		name    string
		url     string
		pool    *pgxpool.Pool
		err     error
		done    bool
	}
	// admin is the admin URL, found once per test binary.
	admin struct {
		once sync.Once
		url  string
		err  error
	}
	// owner is this test binary's id, in the name of every database it creates, and the
	// connection that holds the advisory lock on it until the process ends.
	owner struct {
		sync.Mutex
		id     uint32
		keeper *pgx.Conn
		n      int
	}
	namePattern  = regexp.MustCompile(`^ctms_t_(\d+)_`)
	ownerPattern = regexp.MustCompile(`^ctms_t_o([0-9a-f]{8})_`)
)

// Run runs the package's tests, then drops the package's database (the one of Pool and URL).
// A package that uses Pool or URL calls it from TestMain: os.Exit(testdb.Run(m)).
func Run(m *testing.M) int {
	shared.Lock()
	shared.managed = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.pool != nil {
		shared.pool.Close()
		if err := dropDatabase(context.Background(), admin.url, shared.name); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
		}
		shared.pool = nil
	}
	return code
}

// Pool returns a pool on this test package's own fresh, migrated database (created once per
// test binary, shared by the package's tests; closed and dropped by Run after them).
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ensureShared(t)
	return shared.pool
}

// URL returns the connection URL of that same database.
func URL(t testing.TB) string {
	t.Helper()
	ensureShared(t)
	return shared.url
}

// NewDatabase creates another fresh migrated database (for tests that need isolation) and
// returns its URL; the database is dropped in t.Cleanup.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := AdminURL(t)
	name, err := createDatabase(ctx, admin)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(context.Background(), admin, name); err != nil {
			t.Logf("testdb: %v", err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return u
}

func ensureShared(t testing.TB) {
	t.Helper()
	admin := AdminURL(t)
	shared.Lock()
	defer shared.Unlock()
	if !shared.managed {
		t.Fatal("testdb: Pool and URL need the package's TestMain to call testdb.Run, " +
			"which drops the package's database after its tests")
	}
	if !shared.done {
		shared.done = true
		shared.name, shared.url, shared.pool, shared.err = openShared(context.Background(), admin)
	}
	if shared.err != nil {
		t.Fatalf("testdb: %v", shared.err)
	}
}

func openShared(ctx context.Context, admin string) (string, string, *pgxpool.Pool, error) {
	name, err := createDatabase(ctx, admin)
	if err != nil {
		return "", "", nil, err
	}
	u, err := withDatabase(admin, name)
	if err != nil {
		return name, "", nil, err
	}
	pool, err := newPool(ctx, u)
	if err != nil {
		return name, "", nil, err
	}
	return name, u, pool, nil
}

// AdminURL is the admin connection URL of the tests' server (EnvURL, else DefaultURL when
// it answers); the test fails with what to do when there is none.
func AdminURL(t testing.TB) string {
	t.Helper()
	admin.once.Do(func() { admin.url, admin.err = findAdmin(os.Getenv(EnvURL), DefaultURL) })
	if admin.err != nil {
		t.Fatal(admin.err)
	}
	return admin.url
}

// findAdmin is set (the value of EnvURL) when not empty, else fallback when a server answers
// there, else an error of one line that says what to do.
func findAdmin(set, fallback string) (string, error) {
	if set != "" {
		return set, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fallback)
	if err != nil {
		return "", fmt.Errorf("testdb: no PostgreSQL for the tests (%s is not set and %s does not answer: %s): "+
			"run `make test`, which finds or starts one", EnvURL, fallback, strings.Join(strings.Fields(err.Error()), " "))
	}
	_ = conn.Close(ctx)
	return fallback, nil
}

func newPool(ctx context.Context, connURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", EnvURL, err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// createDatabase clones the template of the current migrations into a new database,
// building the template first if this migration content has none yet.
func createDatabase(ctx context.Context, admin string) (string, error) {
	tmpl, err := templateName()
	if err != nil {
		return "", err
	}
	id, n, err := ownerOf(ctx, admin)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("ctms_t_o%08x_%s_%d", id, packageName(), n)

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	// Session lock, released when conn closes even if we return early.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return "", fmt.Errorf("take lock: %w", err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
		tmpl).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for template: %w", err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, admin, tmpl); err != nil {
			return "", err
		}
	}
	sweepStale(ctx, conn, id)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s from %s: %w", name, tmpl, err)
	}
	return name, nil
}

// buildTemplate migrates a new database under a temporary name and renames it only when
// complete, so a crash never leaves a half-migrated template behind.
func buildTemplate(ctx context.Context, conn *pgx.Conn, admin, tmpl string) error {
	building := tmpl + "_building"
	ident := pgx.Identifier{building}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop leftover %s: %w", building, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create %s: %w", building, err)
	}
	u, err := withDatabase(admin, building)
	if err != nil {
		return err
	}
	pool, err := newPool(ctx, u)
	if err != nil {
		return err
	}
	err = migrate.Up(ctx, pool, nil)
	pool.Close() // cloning and renaming need the database free of sessions
	if err != nil {
		return fmt.Errorf("migrate template %s: %w", building, err)
	}
	// No connections allowed: a session on a template makes CREATE DATABASE … TEMPLATE fail.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close template %s: %w", building, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" RENAME TO "+
		pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return fmt.Errorf("rename %s to %s: %w", building, tmpl, err)
	}
	return nil
}

// ownerOf returns this test binary's owner id, taking its lock first (once per process), and
// the next number for a database name.
func ownerOf(ctx context.Context, admin string) (uint32, int, error) {
	owner.Lock()
	defer owner.Unlock()
	if owner.keeper == nil {
		keeper, err := pgx.Connect(ctx, admin)
		if err != nil {
			return 0, 0, fmt.Errorf("connect to %s: %w", EnvURL, err)
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		id := binary.BigEndian.Uint32(b[:])
		// Held until the process ends (its connection is never closed): sweepStale in other
		// binaries leaves this binary's databases alone while it runs.
		if _, err := keeper.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", ownerLockClass, int32(id)); err != nil { // #nosec G115 -- a lock key: any 32 bits
			_ = keeper.Close(ctx)
			return 0, 0, fmt.Errorf("take owner lock: %w", err)
		}
		owner.id, owner.keeper = id, keeper
	}
	owner.n++
	return owner.id, owner.n, nil
}

// sweepStale drops the test databases nobody is connected to whose owner has ended (nobody
// holds its owner lock), and those of the older naming scheme older than staleAfter.
// Best effort: errors (e.g. a database still in use) are ignored.
func sweepStale(ctx context.Context, conn *pgx.Conn, self uint32) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database d WHERE datname LIKE 'ctms\_t\_%'
		AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-staleAfter).Unix()
	for _, n := range names {
		if m := ownerPattern.FindStringSubmatch(n); m != nil {
			id, err := strconv.ParseUint(m[1], 16, 32)
			if err != nil || uint32(id) == self {
				continue
			}
			var free bool
			key := int32(uint32(id)) // #nosec G115 -- a lock key: any 32 bits
			if conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", ownerLockClass, key).Scan(&free) != nil || !free {
				continue
			}
			_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", ownerLockClass, key)
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize())
			continue
		}
		m := namePattern.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		if created, err := strconv.ParseInt(m[1], 10, 64); err == nil && created < cutoff {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize())
		}
	}
}

func dropDatabase(ctx context.Context, admin, name string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("drop %s: connect: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+
		" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// templateName is ctms_tmpl_ followed by a short hash of the embedded migrations' names and content.
func templateName() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(ctmssql.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ctmssql.Migrations, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return "ctms_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// packageName is the test binary's directory (go test runs it in the package directory),
// reduced to a short identifier.
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "pkg"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(wd)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() == 20 {
			break
		}
	}
	if b.Len() == 0 {
		return "pkg"
	}
	return b.String()
}

// withDatabase returns connURL pointing at database name instead: a URL gets its path
// replaced, a keyword/value string gets a dbname appended (the last one wins).
func withDatabase(connURL, name string) (string, error) {
	if !strings.HasPrefix(connURL, "postgres://") && !strings.HasPrefix(connURL, "postgresql://") {
		return connURL + " dbname=" + name, nil
	}
	u, err := url.Parse(connURL)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvURL, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	q := u.Query()
	if q.Has("dbname") {
		q.Del("dbname")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
