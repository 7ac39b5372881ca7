package testdb

// Fixtures shared by the tests of every package: plain SQL on a test database,
// failing the test on any error.

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the fixtures need of a database: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all have it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Exec runs sql.
func Exec(t testing.TB, db Querier, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Count runs a query of one integer (SELECT count(*) ...) and returns it.
func Count(t testing.TB, db Querier, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// InsertClient stores an API client with a fresh id (id_ and 12 hex digits), the
// email <id>@example.com and the given hashed secret; it returns the id.
func InsertClient(t testing.TB, db Querier, enabled bool, hash string) (id string) {
	t.Helper()
	id = "id_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	Exec(t, db, `INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ($1, $2, $3, $4)`,
		id, id+"@example.com", enabled, hash)
	return id
}

// Grant gives a client a role, creating the role (with an empty description, as
// `ctms roles create` would) when it is missing.
func Grant(t testing.TB, db Querier, clientID, role string) {
	t.Helper()
	Exec(t, db, `INSERT INTO roles (name, description) VALUES ($1, '') ON CONFLICT (name) DO NOTHING`, role)
	Exec(t, db, `INSERT INTO api_client_roles (api_client_id, role_id) SELECT $1, id FROM roles WHERE name = $2`, clientID, role)
}
