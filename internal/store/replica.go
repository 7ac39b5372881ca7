package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrReplicaBehind means the read database did not replay the primary's position in time.
var ErrReplicaBehind = errors.New("read replica behind the primary")

// WALPosition is the primary's flushed WAL position (pg_current_wal_flush_lsn()): every
// transaction committed so far lies at or before it (a commit is flushed before it becomes
// visible, with synchronous_commit on). A server in recovery is no primary: ErrUnavailable.
func (s *Store) WALPosition(ctx context.Context) (string, error) {
	var lsn *string
	err := s.db.QueryRow(ctx,
		`SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END`).Scan(&lsn)
	if err != nil {
		return "", mapError("wal position", err)
	}
	if lsn == nil {
		return "", fmt.Errorf("wal position: %w: the primary's connection reached a server in recovery", ErrUnavailable)
	}
	return *lsn, nil
}

// ReadAt runs fn on a transaction of this store's database (a standby, usually) once that
// server has replayed the primary's WAL up to lsn, so fn sees every write committed on the
// primary before lsn was taken. It checks and retries for up to wait, then gives
// ErrReplicaBehind. A server not in recovery (a primary) is always current. The check and fn
// share one transaction, hence one connection and one server; later statements there see
// at least what the check saw, since replay only moves forward.
func (s *Store) ReadAt(ctx context.Context, lsn string, wait time.Duration, fn func(*Store) error) error {
	deadline := time.Now().Add(wait)
	pause := 2 * time.Millisecond
	for {
		err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			var current bool
			if err := tx.QueryRow(ctx, `SELECT NOT pg_is_in_recovery() OR coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).
				Scan(&current); err != nil {
				return mapError("replay position", err)
			}
			if !current {
				return ErrReplicaBehind
			}
			return fn(New(tx))
		})
		if err != nil && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrReplicaBehind) && unavailable(err) {
			err = fmt.Errorf("read transaction: %w: %w", ErrUnavailable, err)
		}
		if !errors.Is(err, ErrReplicaBehind) || time.Now().Add(pause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return mapError("replay wait", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}
