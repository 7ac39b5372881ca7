package brazesync

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/obs"
)

// The leader lock: a session advisory lock in its two-int4 form ('CTMS', 'BRZE'),
// whose pg_locks rows (objsubid 2) the write-start guard of FeedWriteMarkers
// (objsubid 1) never counts. The session that holds it is the one the leader works
// on: when the process dies (even kill -9), PostgreSQL ends the session, the lock is
// free, and a standby polling for it takes over within a PollInterval.
const (
	lockClass = 0x43544d53
	lockObj   = 0x42525a45
)

// statusEvery is how often the queue's gauges are refreshed (counting a large
// backlog, during a backfill, takes a moment).
const statusEvery = 2 * time.Second

// Health is what /__heartbeat__ reports.
type Health struct {
	mu         sync.Mutex
	leader     bool
	dbErr      string // the last database error (empty: reachable)
	authFailed bool
	lastStep   time.Time // the last step that ended without error (leader only)
}

// Snapshot is a copy of the health, for the heartbeat.
type Snapshot struct {
	Leader     bool      `json:"leader"`
	Database   string    `json:"database"`     // "ok" or the last error
	BrazeAuth  string    `json:"braze_auth"`   // "ok" or "refused"
	LastStepAt time.Time `json:"last_step_at"` // zero unless leader
	Healthy    bool      `json:"-"`
}

// Snapshot reports the health; unhealthy when the database is unreachable or Braze
// refuses the key.
func (h *Health) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Snapshot{Leader: h.leader, Database: "ok", BrazeAuth: "ok", LastStepAt: h.lastStep, Healthy: true}
	if h.dbErr != "" {
		s.Database, s.Healthy = h.dbErr, false
	}
	if h.authFailed {
		s.BrazeAuth, s.Healthy = "refused", false
	}
	return s
}

func (h *Health) set(f func(h *Health)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

// Runner runs the syncer: it connects, waits for the leader lock, and while it
// holds it, steps an Engine; it reconnects when the connection is lost.
type Runner struct {
	Connect func(ctx context.Context) (*pgx.Conn, error)
	ESP     braze.ESP
	Options Options
	Health  *Health
}

// Run works until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	r.Options.defaults()
	if r.Health == nil {
		r.Health = &Health{}
	}
	log := r.Options.Logger
	for ctx.Err() == nil {
		conn, err := r.Connect(ctx)
		if err != nil {
			r.dbFailed(err)
			sleep(ctx, r.Options.PollInterval*4)
			continue
		}
		err = r.session(ctx, conn)
		_ = conn.Close(context.WithoutCancel(ctx))
		if _, setup := errors.AsType[*SetupError](err); setup && ctx.Err() == nil {
			r.Health.set(func(h *Health) { h.dbErr, h.leader = err.Error(), false })
			log.Log(ctx, obs.LevelCritical, "ctms sync cannot start", obs.LoggerKey, logger, "error", err.Error())
			sleep(ctx, min(r.Options.RetryMaxDelay, time.Minute)) // an operator must act
			continue
		}
		if err != nil && ctx.Err() == nil {
			r.dbFailed(err)
			log.Warn("syncer session ended", obs.LoggerKey, logger, "error", Redact(err.Error()))
			sleep(ctx, r.Options.PollInterval)
		}
	}
	return nil
}

func (r *Runner) dbFailed(err error) {
	r.Health.set(func(h *Health) { h.dbErr, h.leader = "unreachable", false })
	r.Options.Metrics.setLeader(false)
	_ = err
}

// keepalives make the server notice a leader whose host vanished (no FIN, no RST)
// in about 11 s and free its lock, instead of after the system's TCP keepalive (often
// 2 hours). A killed process is noticed at once anyway. Ignored on Unix sockets.
const keepalives = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"

// SetupError is a database the syncer cannot work on: a table it writes is missing or
// not writable by its role.
type SetupError struct{ Tables []string }

func (e *SetupError) Error() string {
	return "cannot write " + strings.Join(e.Tables, ", ") + ": run `ctms migrate`, then deploy/postgres/roles.sql"
}

// session polls for the lock on conn, then leads until an error or ctx's end.
func (r *Runner) session(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, keepalives); err != nil {
		r.Options.Logger.Warn("could not set TCP keepalives on the syncer's session", obs.LoggerKey, logger, "error", err.Error())
	}
	unwritable, err := db.New().BrazeSyncTablesUnwritable(ctx, conn)
	if err != nil {
		return err
	}
	if len(unwritable) > 0 {
		return &SetupError{Tables: unwritable}
	}
	e := NewEngine(conn, &fencedESP{ESP: r.ESP, conn: conn, lease: r.Options.LeaderLease, q: db.New()}, r.Options)
	var lastStatus time.Time
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1::int4, $2::int4)", lockClass, lockObj).Scan(&got); err != nil {
			return err
		}
		r.Health.set(func(h *Health) { h.dbErr = "" })
		if got {
			break
		}
		if time.Since(lastStatus) >= statusEvery {
			if err := e.RefreshStatus(ctx); err != nil {
				return err
			}
			lastStatus = time.Now()
		}
		if !sleep(ctx, r.Options.PollInterval) {
			return nil
		}
	}
	// What a deposed leader sent must be applied before this one's first push, and its
	// latest unanswered request is repaired later in case Braze applied it later still
	// (fence.go).
	repairs, err := db.New().BrazeRepairSchedule(ctx, conn, r.Options.Now().Add(r.Options.RepairDelay))
	if err != nil {
		return err
	}
	r.Options.Logger.Info("leading: this replica is the active syncer; it pushes after the previous leader's lease",
		obs.LoggerKey, logger, "wait_seconds", (2 * r.Options.LeaderLease).Seconds())
	if repairs > 0 {
		r.Options.Logger.Info("the previous leader's latest request was unanswered: its contacts are pushed again later",
			obs.LoggerKey, logger, "contacts", repairs, "after_seconds", r.Options.RepairDelay.Seconds())
	}
	r.Health.set(func(h *Health) { h.leader = true })
	r.Options.Metrics.setLeader(true)
	defer func() {
		r.Health.set(func(h *Health) { h.leader = false })
		r.Options.Metrics.setLeader(false)
	}()
	if !sleep(ctx, 2*r.Options.LeaderLease) {
		return nil
	}
	return r.lead(ctx, conn, e)
}

// lead steps the engine: at once while there is work, every PollInterval when idle,
// backing off (exponentially, with jitter) after failures. A refused key stops
// pushing and is retried rarely (at most every RetryMaxDelay) instead of hammering.
func (r *Runner) lead(ctx context.Context, conn *pgx.Conn, e *Engine) error {
	failures := 0
	lastStatus := time.Time{}
	for ctx.Err() == nil {
		worked, err := e.Step(ctx)
		if errors.Is(err, ErrDeposed) {
			return err // a new session, and an election
		}
		if time.Since(lastStatus) >= statusEvery || err != nil {
			if serr := e.RefreshStatus(ctx); serr != nil && ctx.Err() == nil {
				return serr
			}
			lastStatus = time.Now()
		}
		switch {
		case err == nil:
			failures = 0
			r.Health.set(func(h *Health) { h.lastStep = time.Now(); h.authFailed = false })
			r.Options.Metrics.setAuthFailed(false)
			if !worked && !sleep(ctx, r.Options.PollInterval) {
				return nil
			}
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, braze.ErrAuth):
			r.Health.set(func(h *Health) { h.authFailed = true })
			r.Options.Metrics.setAuthFailed(true)
			r.Options.Logger.Log(ctx, obs.LevelCritical, "Braze refused the API key: pushing stopped (check CTMS_BRAZE_API_KEY and its permissions)",
				obs.LoggerKey, logger, "error", Redact(err.Error()))
		default:
			if _, ok := errors.AsType[*TransientError](err); !ok {
				// A database error: a new session (and election) is safest.
				if conn.Ping(ctx) != nil {
					return err
				}
			}
			r.Options.Logger.Warn("sync step failed, backing off", obs.LoggerKey, logger, "error", Redact(err.Error()))
		}
		failures++
		if !sleep(ctx, Backoff(failures, r.Options.RetryMaxDelay)) {
			return nil
		}
	}
	return nil
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// RefreshStatus updates the backlog, retry, dead-letter and age gauges.
func (e *Engine) RefreshStatus(ctx context.Context) error {
	s, err := ReadStatus(ctx, e.db)
	if err != nil {
		return err
	}
	e.opt.Metrics.setStatus(s, time.Now())
	return nil
}
