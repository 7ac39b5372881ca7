package brazesync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/braze"
)

// ErrDeposed is a request to Braze abandoned because the leader could not prove,
// within its lease, that its session (and so the leader lock) is still alive.
var ErrDeposed = errors.New("no longer provably the leader: the request to Braze was abandoned")

// Braze takes no fencing token: a request from a deposed leader (its session ended by
// a database restart, a failover or a network cut while the request was in flight or
// between retries) would be applied after the new leader's pushes and leave Braze
// with an older state that the new leader has recorded as superseded. So leadership
// is also a lease in time:
//
//   - fencedESP sends a leader's requests only while the lock's session answered a
//     ping sent less than the lease ago; it pings every quarter lease while a request
//     (with its retries) is in flight and abandons it when the lease runs out or a
//     ping fails. A ping that times out closes the session, freeing the lock.
//   - a new leader waits two leases before its first push (Runner.session): the old
//     leader's session ended before the new one got the lock, so the old leader sent
//     nothing after one lease, and the second lets what it sent just before be applied.
//
// A process frozen between its check and its send for longer than a lease is the one
// case this does not cover: its TCP session stays alive while it is frozen, so the
// lock is only lost to a database restart or network cut in that same moment.
type fencedESP struct {
	braze.ESP // Export, a read, passes through
	conn      *pgx.Conn
	lease     time.Duration
}

func (f *fencedESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) (minor []braze.MinorError, err error) {
	err = f.fenced(ctx, func(ctx context.Context) error {
		var terr error
		minor, terr = f.ESP.Track(ctx, attrs, events)
		return terr
	})
	return minor, err
}

func (f *fencedESP) Delete(ctx context.Context, externalIDs []string) error {
	return f.fenced(ctx, func(ctx context.Context) error { return f.ESP.Delete(ctx, externalIDs) })
}

func (f *fencedESP) NewAliases(ctx context.Context, aliases []braze.Alias) error {
	return f.fenced(ctx, func(ctx context.Context) error { return f.ESP.NewAliases(ctx, aliases) })
}

// fenced runs call while the lease holds; the engine does not use the connection
// until call returns, so the pings have it to themselves.
func (f *fencedESP) fenced(ctx context.Context, call func(context.Context) error) error {
	proven := time.Now()
	if err := f.prove(ctx, proven); err != nil {
		return fmt.Errorf("%w: %v", ErrDeposed, err)
	}
	callCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(f.lease / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sent := time.Now()
			if err := f.prove(ctx, proven); err != nil {
				cancel(fmt.Errorf("%w: %v", ErrDeposed, err))
				return
			}
			proven = sent
		}
	}()
	err := call(callCtx)
	close(stop)
	<-watched
	if cause := context.Cause(callCtx); errors.Is(cause, ErrDeposed) {
		return cause
	}
	return err
}

// prove pings the lock's session, waiting at most until the lease since proven runs
// out (pgx then closes the connection, which ends the session).
func (f *fencedESP) prove(ctx context.Context, proven time.Time) error {
	pctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), proven.Add(f.lease))
	defer cancel()
	return f.conn.Ping(pctx)
}
