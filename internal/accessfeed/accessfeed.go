// Package accessfeed tells a server's in-memory caches of the access tables (API clients,
// roles, permissions, waitlist field rules) when what they hold may be stale.
//
// The tables' triggers (sql/migrations/00004_access_notify.sql) notify the channel
// ctms_access on every change, whoever makes it. A Feed listens on a connection of its own
// (LISTEN needs a session: not one borrowed from the request pool) and counts: the caches
// keep the Version they read an entry under and use it only while Version is unchanged.
// The version also moves when the listener (re)connects, since notifications may have been
// missed meanwhile, and every refresh period, as a safety net. While the listener is down,
// Version reports it, and caches read through to the database.
package accessfeed

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the notification channel of the access tables' triggers.
const Channel = "ctms_access"

// probePrefix marks a listener's own test notification (probe): never a table change.
const probePrefix = "probe:"

// ApplicationName names the listener's connection in pg_stat_activity.
const ApplicationName = "ctms-listener"

const (
	// DefaultRefresh is how often the caches are dropped even without a notification (a
	// change made with the triggers disabled, e.g. session_replication_role = replica).
	DefaultRefresh = time.Minute
	// pingEvery: how long the listener waits in silence before checking its connection, so
	// a connection lost without a word (network partition) is noticed within seconds.
	pingEvery = 5 * time.Second
	// pingTimeout bounds that check.
	pingTimeout = 3 * time.Second
	// Reconnection attempts back off from minBackoff to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Version identifies the state of the access tables a cache entry was read under. Entries
// are valid only while Live and equal to the current Version.
type Version struct {
	n uint64 // generation << 1 | live
}

// Live reports whether the listener was connected: only then may anything be cached.
func (v Version) Live() bool { return v.n&1 == 1 }

// Feed is a running listener. A nil *Feed is never live (caches read through).
type Feed struct {
	cfg     *pgconn.Config
	log     *slog.Logger
	refresh time.Duration

	state atomic.Uint64 // Version.n; written by run only

	cancel context.CancelFunc
	done   chan struct{}
	pidMu  sync.Mutex
	pid    uint32

	// listenTo is the channel LISTENed on: Channel (a test listens elsewhere to play a
	// connection that delivers no notifications).
	listenTo string
	// probe is the payload of this listener's pending probe; probed is set when it arrives.
	probe  atomic.Pointer[string]
	probed atomic.Bool
}

// errNoDelivery: the connection accepted LISTEN but did not deliver the listener's own
// notification, as behind a PgBouncer in transaction pooling mode.
var errNoDelivery = errors.New("the listener's own test notification did not arrive: " +
	"LISTEN needs a session (a PgBouncer in transaction pooling mode does not keep one; " +
	"point CTMS_DB_LISTEN_URL at PostgreSQL or a session-pooling PgBouncer)")

// Option configures Start.
type Option func(*Feed)

// WithRefresh sets the safety-net period (default DefaultRefresh).
func WithRefresh(d time.Duration) Option { return func(f *Feed) { f.refresh = d } }

// Start listens on a new connection made with cfg (copied; its OnNotification and
// application_name are replaced) until Close. It returns at once: the feed goes live when
// the connection is up.
func Start(cfg *pgconn.Config, logger *slog.Logger, opts ...Option) *Feed {
	c := cfg.Copy()
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	c.RuntimeParams["application_name"] = ApplicationName
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Feed{cfg: c, log: logger, refresh: DefaultRefresh, cancel: cancel, done: make(chan struct{}), listenTo: Channel}
	for _, o := range opts {
		o(f)
	}
	c.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		if !strings.HasPrefix(n.Payload, probePrefix) {
			f.bump(true)
		} else if want := f.probe.Load(); want != nil && n.Payload == *want {
			f.probed.Store(true)
		} // another instance's probe: no change
	}
	go f.run(ctx)
	return f
}

// Close stops the listener and closes its connection.
func (f *Feed) Close() {
	f.cancel()
	<-f.done
}

// Version returns the current version (not live for a nil Feed).
func (f *Feed) Version() Version {
	if f == nil {
		return Version{}
	}
	return Version{n: f.state.Load()}
}

// BackendPID is the listener connection's server process id (0 while down), for tests.
func (f *Feed) BackendPID() uint32 {
	f.pidMu.Lock()
	defer f.pidMu.Unlock()
	return f.pid
}

// bump starts a new generation, live or not.
func (f *Feed) bump(live bool) {
	n := (f.state.Load()>>1 + 1) << 1
	if live {
		n |= 1
	}
	f.state.Store(n)
}

func (f *Feed) run(ctx context.Context) {
	defer close(f.done)
	backoff := minBackoff
	for {
		start := time.Now()
		err := f.listen(ctx)
		f.bump(false)
		f.setPID(0)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("access change listener disconnected: API clients are read from the database until it reconnects",
			"error", err.Error(), "retry_in", backoff.String())
		if time.Since(start) > maxBackoff {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen connects, LISTENs, goes live and waits for notifications (counted by the
// OnNotification callback) until the connection fails or ctx ends.
func (f *Feed) listen(ctx context.Context) error {
	conn, err := pgconn.ConnectConfig(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if err := conn.Exec(ctx, "LISTEN "+f.listenTo).Close(); err != nil {
		return err
	}
	if err := f.roundTrip(ctx, conn); err != nil {
		return err
	}
	// Live only now: a change committed from here on is notified; anything cached
	// before, under an older version, is dropped by this bump.
	f.setPID(conn.PID())
	f.bump(true)
	f.log.Info("access change listener connected")
	refreshed := time.Now()
	for {
		if time.Since(refreshed) >= f.refresh {
			f.bump(true)
			refreshed = time.Now()
		}
		wait, cancel := context.WithTimeout(ctx, min(pingEvery, f.refresh))
		err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			continue
		case !pgconn.Timeout(err):
			return err
		}
		if err := f.roundTrip(ctx, conn); err != nil {
			return err
		}
	}
}

// roundTrip notifies a probe on conn and waits for it to come back: proof that the
// connection is up and that LISTEN on it really delivers (a PgBouncer in transaction
// pooling mode accepts LISTEN and answers pings, but delivers nothing). Table changes
// arriving meanwhile are counted by OnNotification as usual.
func (f *Feed) roundTrip(ctx context.Context, conn *pgconn.PgConn) error {
	probe := probePrefix + rand.Text()
	f.probed.Store(false)
	f.probe.Store(&probe)
	wait, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := conn.ExecParams(wait, "SELECT pg_notify($1, $2)", [][]byte{[]byte(Channel), []byte(probe)},
		nil, nil, nil).Close(); err != nil {
		return err
	}
	for !f.probed.Load() {
		if err := conn.WaitForNotification(wait); err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				return errNoDelivery
			}
			return err
		}
	}
	return nil
}

func (f *Feed) setPID(pid uint32) {
	f.pidMu.Lock()
	f.pid = pid
	f.pidMu.Unlock()
}
