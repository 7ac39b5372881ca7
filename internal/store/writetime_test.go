package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

// The invariant of sql/migrations/00007_write_time.sql, at the database: every
// emails row a transaction commits with a time it set carries a time after the
// feeds' end computed by any reader before its first write, and at or after the
// end computed while it is in flight; rows whose time it left alone keep it. Also
// for a writer whose DateStyle and TimeZone differ, whose first write was rolled
// back to a savepoint, and whatever the transaction did before.
func TestWriteTimeInvariant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testdb.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := store.New(pool)
	cfg, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.RuntimeParams["datestyle"] = "SQL, DMY"
	cfg.RuntimeParams["timezone"] = "Asia/Kolkata"
	writer, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = writer.Close(ctx) })

	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	changed, untouched, atStatement, fromClock := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{changed, untouched, atStatement, fromClock} {
		_, err = pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email, update_timestamp) VALUES ($1, $2, $3)`,
			id, id.String()+"@example.com", old)
		require.NoError(t, err)
	}

	for _, firstWriteRolledBack := range []bool{false, true} {
		tx, err := writer.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SELECT count(*) FROM emails`) // reads first
		require.NoError(t, err)
		var clockBefore time.Time // a time of the transaction's clock, read before its first write
		require.NoError(t, tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&clockBefore))
		time.Sleep(20 * time.Millisecond)
		before, err := s.UpdatesEnd(ctx, time.Now(), 0)
		require.NoError(t, err)
		if firstWriteRolledBack {
			_, err = tx.Exec(ctx, `SAVEPOINT s`)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `UPDATE emails SET update_timestamp = now() WHERE email_id = $1`, changed)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
			require.NoError(t, err)
		}
		// The first write (it takes the marker) with its statement's start, before the write time.
		_, err = tx.Exec(ctx, `UPDATE emails SET update_timestamp = statement_timestamp() WHERE email_id = $1`, atStatement)
		require.NoError(t, err)
		inserted := uuid.New()
		_, err = tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, inserted, inserted.String()+"@example.com")
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE emails SET update_timestamp = $2 WHERE email_id = $1`, fromClock, clockBefore)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE emails SET update_timestamp = now(), first_name = 'x' WHERE email_id = $1`, changed)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE emails SET first_name = 'y' WHERE email_id = $1`, untouched)
		require.NoError(t, err)
		during, err := s.UpdatesEnd(ctx, time.Now(), 0)
		require.NoError(t, err)
		var written time.Time
		require.NoError(t, tx.QueryRow(ctx, `SELECT public.ctms_write_time()`).Scan(&written))
		require.NoError(t, tx.Commit(ctx))

		stamps := map[uuid.UUID]time.Time{}
		rows, err := pool.Query(ctx, `SELECT email_id, update_timestamp FROM emails`)
		require.NoError(t, err)
		for rows.Next() {
			var id uuid.UUID
			var ts time.Time
			require.NoError(t, rows.Scan(&id, &ts))
			stamps[id] = ts
		}
		require.NoError(t, rows.Err())
		for _, id := range []uuid.UUID{inserted, changed, atStatement, fromClock} {
			require.True(t, stamps[id].Equal(written), "rolled back first write %v: %s carries the write time %s, not %s", firstWriteRolledBack, id, written, stamps[id])
		}
		require.True(t, written.After(before), "after the end of a window computed before the first write (%s, %s)", written, before)
		require.False(t, during.After(written), "at or after the end of a window computed in flight (%s, %s)", written, during)
		require.True(t, stamps[untouched].Equal(old), "a time the writer left alone is kept: %s", stamps[untouched])
	}

	// A time read from the clock earlier in the same top-level statement (here a DO block;
	// a procedure that commits has its now() after its statement's start too) comes after
	// that statement began but before the write time: it is raised too.
	inBlock := uuid.New()
	_, err = pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email, update_timestamp) VALUES ($1, $2, $3)`,
		inBlock, inBlock.String()+"@example.com", old)
	require.NoError(t, err)
	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DO $$
		DECLARE t timestamptz := clock_timestamp();
		BEGIN
			PERFORM pg_sleep(0.02);
			UPDATE emails SET update_timestamp = t WHERE email_id = '`+inBlock.String()+`';
		END $$`)
	require.NoError(t, err)
	var written, stamped time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT public.ctms_write_time()`).Scan(&written))
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, pool.QueryRow(ctx, `SELECT update_timestamp FROM emails WHERE email_id = $1`, inBlock).Scan(&stamped))
	require.True(t, stamped.Equal(written), "a clock reading of the same statement, before the marker, carries the write time %s, not %s", written, stamped)
}
