package migrate_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/migrate"
)

// TestBrazeRepairDownQueuesRepairs: undoing migration 00012 loses no scheduled repair
// of ctms sync: each is queued at once (a push of every attribute, or the deletion
// again for a contact that is gone), and no row is left that nothing would forget.
func TestBrazeRepairDownQueuesRepairs(t *testing.T) {
	ctx := context.Background()
	pool := emptyDatabase(t)
	require.NoError(t, migrate.Up(ctx, pool, nil))
	kept, gone, parked, unanswered := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, id := range []string{kept, parked} {
		_, err := pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, id+"@example.com")
		require.NoError(t, err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO braze_sync_contacts (email_id, repair_at, seq) VALUES ($1, now() + interval '1 minute', 3), ($2, now() + interval '1 minute', 0)`, kept, gone)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO braze_sync_contacts (email_id, repair_at, seq, dead, retries, last_error) VALUES ($1, now(), 5, true, 20, 'why')`, parked)
	require.NoError(t, err)
	// The last leader stopped with a request unanswered (no contact of it exists any more).
	_, err = pool.Exec(ctx, `INSERT INTO braze_sync_in_flight (email_ids, sent_at) VALUES (ARRAY[$1::uuid], now())`, unanswered)
	require.NoError(t, err)

	src, err := os.ReadFile("../../sql/migrations/00012_braze_sync_repair.sql")
	require.NoError(t, err)
	_, down, found := strings.Cut(string(src), "-- +goose Down")
	require.True(t, found)
	_, err = pool.Exec(ctx, down)
	require.NoError(t, err)

	rows, err := pool.Query(ctx, `SELECT email_id::text, pending, full_push, delete_pending, seq, dead, retries, coalesce(last_error, '')
		FROM braze_sync_contacts ORDER BY email_id`)
	require.NoError(t, err)
	got := map[string][7]any{}
	for rows.Next() {
		var id, why string
		var pending, full, del, dead bool
		var seq int64
		var retries int32
		require.NoError(t, rows.Scan(&id, &pending, &full, &del, &seq, &dead, &retries, &why))
		got[id] = [7]any{pending, full, del, seq, dead, retries, why}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string][7]any{
		kept:       {true, true, false, int64(4), false, int32(0), ""},    // pushed again, every attribute
		gone:       {true, true, true, int64(1), false, int32(0), ""},     // deleted again, then forgotten
		parked:     {true, true, false, int64(6), true, int32(20), "why"}, // still a dead letter, with its reason
		unanswered: {true, true, true, int64(1), false, int32(0), ""},     // its repair: the deletion again
	}, got)
	var left bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('braze_sync_in_flight') IS NOT NULL
		OR EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'braze_sync_contacts' AND column_name = 'repair_at')`).Scan(&left))
	require.False(t, left, "the table or the column is left")
}
