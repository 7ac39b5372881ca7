package httpapi

import (
	"context"
	"errors"
	"github.com/ctms-go/ctms/internal/store"
	"time"
)

const (
	// replicaWait is how long a read waits for the read database to replay what the
	// primary had committed when the request came in; then the primary answers.
	replicaWait = 250 * time.Millisecond
	// replicaPause is how long reads skip a read database that was behind or unreachable.
	replicaPause = 5 * time.Second
)

// read calls method on the read database (WithReadDB) or, without one, on the primary.
//
// A standby lags: to answer exactly what the primary would, read first takes the
// primary's flushed WAL position (one trivial query there) and runs method on the standby
// only once it has replayed that far (store.ReadAt). So a client reading its own write
// finds it, and /updates never hands out a cursor past a write the standby has not yet
// replayed. A standby behind by more than replicaWait, or unreachable, is skipped for
// replicaPause and the primary answers: the read database adds capacity, never
// staleness nor an outage of its own.
func read[A, R any](ctx context.Context, s *server, method func(*store.Store, context.Context, A) (R, error), arg A) (R, error) {
	if s.reads == s.store || time.Now().UnixNano() < s.replicaSkip.Load() {
		return method(s.store, ctx, arg)
	}
	lsn, err := s.store.WALPosition(ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	var out R
	err = s.reads.ReadAt(ctx, lsn, replicaWait, func(st *store.Store) (err error) {
		out, err = method(st, ctx, arg)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() == nil && (errors.Is(err, store.ErrReplicaBehind) || errors.Is(err, store.ErrUnavailable)):
		if s.replicaSkip.Swap(time.Now().Add(replicaPause).UnixNano()) < time.Now().UnixNano() {
			s.log.WarnContext(ctx, "read database skipped: the primary answers reads for a while",
				"error", err.Error(), "pause", replicaPause.String())
		}
		return method(s.store, ctx, arg)
	}
	return out, err
}
