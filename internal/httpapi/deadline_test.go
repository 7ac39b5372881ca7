package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/testdb"
)

// TestRequestDeadline: a request whose database work outlasts CTMS_DB_REQUEST_TIMEOUT
// (here a write waiting for a row lock held by another transaction) fails at the
// deadline with 503, a detail and Retry-After, instead of hanging; reads go on, and
// the write succeeds once the lock is gone.
func TestRequestDeadline(t *testing.T) {
	t.Parallel()
	const deadline = time.Second
	a := newAPIWith(t, testdb.Pool(t), func(c *config.Config) { c.RequestDBTimeout = deadline })
	id, body := newContact()
	a.create(body)

	ctx := context.Background()
	tx, err := a.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT 1 FROM emails WHERE email_id = $1 FOR UPDATE", id)
	require.NoError(t, err)

	start := time.Now()
	r := a.do("PATCH", "/ctms/"+id, obj{"email": obj{"first_name": "Late"}})
	took := time.Since(start)
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.NotEmpty(t, r.Object(t)["detail"])
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, took, deadline)
	require.Less(t, took, deadline+1500*time.Millisecond, "the request outlived its deadline")

	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status, "reads do not wait for the lock")
	require.NoError(t, tx.Rollback(ctx))
	r = a.do("PATCH", "/ctms/"+id, obj{"email": obj{"first_name": "Late"}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}
