package brazesync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/braze"
)

// ErrDeposed is a request to Braze abandoned because the leader could not prove,
// within its lease, that its session (and so the leader lock) is still alive.
var ErrDeposed = errors.New("no longer provably the leader: the request to Braze was abandoned")

// Braze takes no fencing token: a request from a deposed leader (its session ended by
// a database restart or a network cut while the request was in flight or between
// retries) could be applied after the new leader's pushes and leave Braze with an
// older state, which the new leader has recorded as superseded. Three layers:
//
//   - fencedESP sends a leader's requests only while its session answered a statement
//     sent less than a lease ago: the one that records the request's contacts
//     (braze_sync_in_flight), then a ping every quarter lease while the request and its
//     retries are in flight. It abandons the request (cancels its context) when a ping
//     fails or the lease runs out.
//   - A new leader waits two leases before its first push (Runner.session): the old
//     session ended before the new one got the lock, so the old leader sent nothing
//     after one lease, and the second lets what it sent just before land first.
//   - A new leader schedules a repair of the contacts of the old leader's latest
//     request, RepairDelay later (Runner.session, BrazeRepairSchedule): a request Braze
//     had received before it was abandoned may still be applied late. The row is
//     cleared when Braze's answer is recorded: an answered request cannot land later.
//
// It assumes one PostgreSQL primary: advisory locks are not replicated, so a standby
// promoted while the old primary still serves gives two leaders (fence the old primary,
// as any failover must).
type fencedESP struct {
	braze.ESP // Export, a read, passes through
	conn      *pgx.Conn
	lease     time.Duration
	q         *db.Queries
}

func (f *fencedESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) (minor []braze.MinorError, err error) {
	var ids []uuid.UUID
	seen := map[string]bool{}
	add := func(v any) {
		if s, ok := v.(string); ok && !seen[s] {
			seen[s] = true
			if id, err := uuid.Parse(s); err == nil {
				ids = append(ids, id)
			}
		}
	}
	for _, a := range attrs {
		add(a["external_id"])
	}
	for _, e := range events {
		add(e["external_id"])
	}
	err = f.fenced(ctx, ids, func(ctx context.Context) error {
		var terr error
		minor, terr = f.ESP.Track(ctx, attrs, events)
		return terr
	})
	return minor, err
}

func (f *fencedESP) Delete(ctx context.Context, externalIDs []string) error {
	ids := make([]uuid.UUID, 0, len(externalIDs))
	for _, s := range externalIDs {
		if id, err := uuid.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	return f.fenced(ctx, ids, func(ctx context.Context) error { return f.ESP.Delete(ctx, externalIDs) })
}

// NewAliases is fenced without a repair: a late alias cannot undo a newer state.
func (f *fencedESP) NewAliases(ctx context.Context, aliases []braze.Alias) error {
	return f.fenced(ctx, nil, func(ctx context.Context) error { return f.ESP.NewAliases(ctx, aliases) })
}

// fenced records ids as in flight (or, without ids, pings), then runs call while the
// lease holds. The engine does not use the connection until call returns (it never
// calls Braze inside a transaction), so the pings have it to themselves.
func (f *fencedESP) fenced(ctx context.Context, ids []uuid.UUID, call func(context.Context) error) error {
	proven := time.Now()
	first := func(ctx context.Context) error { return f.conn.Ping(ctx) }
	if len(ids) > 0 {
		first = func(ctx context.Context) error { return f.q.BrazeInFlightSet(ctx, f.conn, ids) }
	}
	if err := f.within(ctx, proven, first); err != nil {
		if setupProblem(err) {
			return fmt.Errorf("record the request in flight: %w", err)
		}
		return fmt.Errorf("%w: %v", ErrDeposed, err)
	}
	callCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	expiry := time.AfterFunc(f.lease, func() { cancel(fmt.Errorf("%w: the lease ran out", ErrDeposed)) })
	defer expiry.Stop()
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
			if err := f.within(ctx, proven, f.conn.Ping); err != nil {
				cancel(fmt.Errorf("%w: %v", ErrDeposed, err))
				return
			}
			proven = sent
			expiry.Reset(time.Until(proven.Add(f.lease)))
		}
	}()
	err := call(callCtx)
	close(stop)
	<-watched
	// An answer that came is an answer (its record fails anyway if the session is gone).
	if cause := context.Cause(callCtx); err != nil && errors.Is(cause, ErrDeposed) {
		return cause
	}
	return err
}

// setupProblem: the database refused a statement for want of a table or a privilege
// (`ctms migrate` or deploy/postgres/roles.sql not run): no contact's fault.
func setupProblem(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && (pgErr.Code == "42501" || pgErr.Code == "42P01") // insufficient_privilege, undefined_table
}

// within runs a statement on the lock's session, waiting at most until the lease since
// proven runs out. A statement cut short closes the connection (pgx), and so the
// session, though PostgreSQL may only notice when the network lets it.
func (f *fencedESP) within(ctx context.Context, proven time.Time, stmt func(context.Context) error) error {
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), proven.Add(f.lease))
	defer cancel()
	return stmt(sctx)
}
