package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/testdb"
)

// newDatabasePool is a pool on a fresh database of its own.
func newDatabasePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestReadRouting gives the server two different databases as primary and read database:
// a contact that exists only in the read database is found by every read endpoint and
// unknown to the writes, whose responses come from the primary.
func TestReadRouting(t *testing.T) {
	t.Parallel()
	primary, replica := newDatabasePool(t), newDatabasePool(t)
	id, body := newContact()
	require.Equal(t, http.StatusCreated, newAPIOn(t, replica).do("POST", "/ctms", body).Status)

	a := newAPIOn(t, primary, httpapi.WithReadDB(replica))
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status)
	require.Equal(t, http.StatusOK, a.do("GET", "/identity/"+id, nil).Status)
	require.Len(t, a.do("GET", "/ctms?email_id="+id, nil).JSON(t), 1)
	require.Len(t, a.do("GET", "/identities?email_id="+id, nil).JSON(t), 1)
	items := a.do("GET", "/updates?start=2000-01-01", nil).Object(t)["items"].([]any)
	require.Len(t, items, 1)
	require.Equal(t, id, items[0].(obj)["email"].(obj)["email_id"])

	// Writes, and the contact in their responses, are the primary's.
	require.Equal(t, http.StatusNotFound, a.do("PATCH", "/ctms/"+id, obj{"email": obj{"first_name": "Ada"}}).Status)
	body["email"].(obj)["first_name"] = "Grace"
	r := a.do("PUT", "/ctms/"+id, body)
	require.Equal(t, http.StatusCreated, r.Status, "the primary does not have the contact: PUT creates it")
	require.Equal(t, "Grace", r.Object(t)["email"].(obj)["first_name"])
	// Reads still come from the read database (a real standby would replay the PUT first).
	require.Nil(t, a.do("GET", "/ctms/"+id, nil).Object(t)["email"].(obj)["first_name"])
}

// TestReadRoutingFallsBack: with the read database unreachable, the primary answers reads.
func TestReadRoutingFallsBack(t *testing.T) {
	t.Parallel()
	dead, err := pgxpool.New(context.Background(), "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(dead.Close)
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithReadDB(dead))
	id, body := newContact()
	require.Equal(t, http.StatusCreated, a.do("POST", "/ctms", body).Status)
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status) // read database refused: fallback
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status) // read database skipped for a while
	require.Equal(t, http.StatusOK, a.do("GET", "/identity/"+id, nil).Status)
	require.Equal(t, http.StatusOK, a.do("GET", "/updates?start=2000-01-01", nil).Status)
}
