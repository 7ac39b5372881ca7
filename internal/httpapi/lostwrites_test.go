package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
)

// A consumer that keeps paging /updates with its cursor sees every committed
// change, also one whose transaction started before the consumer's page and
// committed after it (its update_timestamp lies behind rows already served).
func TestUpdatesDoNotLoseSlowWrites(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a := newAPIOn(t, pool) // its own database: no other test's writes in the feed
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)

	_, first := newContact()
	firstID := a.create(first)["email"].(map[string]any)["email_id"].(string)

	// A slow write: its transaction starts now, so its row's update_timestamp is now...
	slowID := uuid.NewString()
	tx, err := pool.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	_, err = tx.Exec(context.Background(), `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, slowID, newEmail())
	require.NoError(t, err)

	// ...while a faster write commits a later timestamp.
	time.Sleep(20 * time.Millisecond)
	_, fast := newContact()
	fastID := a.create(fast)["email"].(map[string]any)["email_id"].(string)

	seen := map[string]int{}
	var cursor string
	page := func() {
		q := url.Values{"start": {start}, "limit": {"1"}}
		if cursor != "" {
			q.Set("after", cursor)
		}
		for {
			r := a.do("GET", "/updates?"+q.Encode(), nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			body := r.Object(t)
			for _, it := range body["items"].([]any) {
				seen[it.(map[string]any)["email"].(map[string]any)["email_id"].(string)]++
			}
			after, _ := body["after"].(string)
			if after == "" {
				return
			}
			cursor = after
			q.Set("after", after)
		}
	}
	page() // while the slow write is in flight
	require.Equal(t, 1, seen[firstID])
	require.Zero(t, seen[fastID], "the feed must stop before the oldest in-flight write")

	require.NoError(t, tx.Commit(context.Background()))
	page() // the consumer goes on from its cursor
	require.Equal(t, map[string]int{firstID: 1, slowID: 1, fastID: 1}, seen, "every write seen exactly once")
}
