package brazesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
)

// Options tune an Engine; zero values take the defaults of internal/config (braze.go).
type Options struct {
	AliasDelay    time.Duration // CTMS_BRAZE_ALIAS_DELAY: aliases no sooner than this after a profile's creation
	MaxRetries    int           // CTMS_SYNC_MAX_RETRIES: failed pushes of a contact before it is parked
	RetryMaxDelay time.Duration // CTMS_SYNC_RETRY_MAX_DELAY: the longest wait between two attempts
	PollInterval  time.Duration // CTMS_SYNC_POLL_INTERVAL: how often an idle syncer reads the feeds
	LeaderLease   time.Duration // how long a leader trusts its last proof of the lock (fence.go)
	RepairDelay   time.Duration // a new leader repairs the previous one's latest request this much later (fence.go)
	MaxWriteWait  time.Duration // CTMS_FEED_MAX_WRITE_WAIT: the guard's bound, as for /updates (0: none)
	FeedPage      int           // rows per page of a feed
	Now           func() time.Time
	Logger        *slog.Logger
	Metrics       *Metrics
}

func (o *Options) defaults() {
	if o.MaxRetries <= 0 {
		o.MaxRetries = 20
	}
	if o.RetryMaxDelay <= 0 {
		o.RetryMaxDelay = 15 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.LeaderLease <= 0 {
		o.LeaderLease = 2 * time.Second
	}
	if o.RepairDelay <= 0 {
		o.RepairDelay = time.Minute
	}
	if o.FeedPage <= 0 {
		o.FeedPage = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Per step, at most this many feed pages and push batches: a backfill still
// reads new changes every few seconds.
const (
	pagesPerStep   = 20
	batchesPerStep = 10
	logger         = "ctms.sync"
)

// The feeds' names in braze_sync_cursor.
const (
	feedUpdates   = "updates"
	feedDeletions = "deletions"
)

// beginning is the position of a feed never read: everything is after it.
var beginning = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// Engine pushes the database's changes to Braze; one Engine works on one connection,
// which (in Run) holds the leader lock, so everything it records is its leader's.
type Engine struct {
	db  store.DB
	q   *db.Queries
	st  *store.Store
	esp braze.ESP
	opt Options
}

// NewEngine returns an engine working on conn (a connection, or in tests any store.DB).
func NewEngine(conn store.DB, esp braze.ESP, opt Options) *Engine {
	opt.defaults()
	return &Engine{db: conn, q: db.New(), st: store.New(conn), esp: esp, opt: opt}
}

// Step reads the feeds, pushes what is queued and adds the aliases that are due. It
// reports whether it did anything (another step may find more at once). An error
// wrapping braze.ErrAuth means Braze refused the key: nothing more is worth trying
// until an operator fixes it.
func (e *Engine) Step(ctx context.Context) (worked bool, err error) {
	// Repairs due (fence.go) are queued like any change.
	if _, err := e.q.BrazeRepairDue(ctx, e.db, e.opt.Now()); err != nil {
		return false, fmt.Errorf("repairs due: %w", err)
	}
	captured, err := e.capture(ctx)
	if err != nil {
		return false, err
	}
	m, err := e.mapping(ctx)
	if err != nil {
		return false, err
	}
	pushed := 0
	for range batchesPerStep {
		n, err := e.pushBatch(ctx, m)
		if err != nil {
			return captured+pushed > 0, err
		}
		if n == 0 {
			break
		}
		pushed += n
	}
	aliased, err := e.addAliases(ctx)
	return captured+pushed+aliased > 0, err
}

// capture queues the contacts the feeds show changed or deleted since their cursors,
// up to the write time of the oldest transaction that may still commit a contact change
// (FeedWriteMarkers, the guard of /updates and /deletions): no late commit is skipped.
func (e *Engine) capture(ctx context.Context) (int, error) {
	m, err := e.q.FeedWriteMarkers(ctx, e.db, e.opt.MaxWriteWait.Seconds())
	if err != nil {
		return 0, fmt.Errorf("feed write markers: %w", err)
	}
	end := m.WaitedFor
	total := 0
	for _, feed := range []string{feedUpdates, feedDeletions} {
		for range pagesPerStep {
			n, err := e.capturePage(ctx, feed, end)
			if err != nil {
				return total, err
			}
			total += n
			if n < e.opt.FeedPage {
				break
			}
		}
	}
	return total, nil
}

type feedRow struct {
	id uuid.UUID
	ts time.Time
}

// capturePage queues one page of a feed and moves its cursor past it, atomically.
func (e *Engine) capturePage(ctx context.Context, feed string, end time.Time) (int, error) {
	after, afterID := beginning, uuid.Nil
	cur, err := e.q.BrazeCursorGet(ctx, e.db, feed)
	if err != nil {
		return 0, fmt.Errorf("cursor of %s: %w", feed, err)
	}
	if len(cur) > 0 {
		after, afterID = cur[0].PositionTs, cur[0].PositionID
	}
	var rows []feedRow
	limit := int32(e.opt.FeedPage) // #nosec G115 -- a page of at most a few thousand rows
	if feed == feedUpdates {
		rs, err := e.q.BrazeFeedUpdates(ctx, e.db, db.BrazeFeedUpdatesParams{AfterTs: after, AfterID: afterID, EndTs: end, MaxRows: limit})
		if err != nil {
			return 0, fmt.Errorf("updates feed: %w", err)
		}
		for _, r := range rs {
			rows = append(rows, feedRow{r.EmailID, r.UpdateTimestamp})
		}
	} else {
		rs, err := e.q.BrazeFeedDeletions(ctx, e.db, db.BrazeFeedDeletionsParams{AfterTs: after, AfterID: afterID, EndTs: end, MaxRows: limit})
		if err != nil {
			return 0, fmt.Errorf("deletions feed: %w", err)
		}
		for _, r := range rs {
			rows = append(rows, feedRow{r.EmailID, r.DeletedAt})
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	// One row per contact (a contact deleted twice in a page): its oldest change.
	seen := map[uuid.UUID]bool{}
	ids, times := make([]uuid.UUID, 0, len(rows)), make([]time.Time, 0, len(rows))
	for _, r := range rows {
		if !seen[r.id] {
			seen[r.id] = true
			ids, times = append(ids, r.id), append(times, r.ts)
		}
	}
	last := rows[len(rows)-1]
	err = pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		if err := e.q.BrazeEnqueue(ctx, tx, db.BrazeEnqueueParams{EmailIds: ids, ChangedAt: times, Deleted: feed == feedDeletions}); err != nil {
			return err
		}
		return e.q.BrazeCursorSet(ctx, tx, db.BrazeCursorSetParams{Feed: feed, PositionTs: last.ts, PositionID: last.id})
	})
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", feed, err)
	}
	return len(rows), nil
}

// mapping reads the newsletter mapping; it is read for every step, so that
// `ctms sync mapping` takes effect without a restart (the table is small).
func (e *Engine) mapping(ctx context.Context) (Mapping, error) {
	rows, err := e.q.BrazeMappingList(ctx, e.db)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m := make(Mapping, len(rows))
	for _, r := range rows {
		m[r.Newsletter] = Group{ID: r.SubscriptionGroupID, Title: r.Title}
	}
	return m, nil
}

// queued is one contact of a batch.
type queued struct {
	row     db.BrazeQueueBatchRow
	last    *State
	aliases map[string]string
	contact *contact.Contact
}

// pushBatch pushes up to MaxTrackObjects queued contacts: deletions first, then the
// contacts' latest states. It returns how many contacts it handled.
func (e *Engine) pushBatch(ctx context.Context, m Mapping) (int, error) {
	now := e.opt.Now()
	rows, err := e.q.BrazeQueueBatch(ctx, e.db, db.BrazeQueueBatchParams{Now: &now, MaxRows: braze.MaxTrackObjects})
	if err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	batch := make([]*queued, len(rows))
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		q := &queued{row: r}
		if r.LastPushed != nil {
			q.last = new(State)
			if err := json.Unmarshal(r.LastPushed, q.last); err != nil {
				return 0, fmt.Errorf("state of %s: %w", r.EmailID, err)
			}
		}
		if r.AliasesPushed != nil {
			if err := json.Unmarshal(r.AliasesPushed, &q.aliases); err != nil {
				return 0, fmt.Errorf("aliases of %s: %w", r.EmailID, err)
			}
		}
		batch[i], ids[i] = q, r.EmailID
	}
	contacts, err := e.st.Contacts(ctx, ids)
	if err != nil {
		return 0, err
	}
	byID := make(map[uuid.UUID]*contact.Contact, len(contacts))
	for i := range contacts {
		byID[contacts[i].Email.EmailID] = &contacts[i]
	}
	for _, q := range batch {
		q.contact = byID[q.row.EmailID]
	}

	// Deletions: those queued, and a profile whose contact is gone (a tombstone may
	// have been purged, or the table truncated).
	var deletes []*queued
	for _, q := range batch {
		if q.row.DeletePending || (q.contact == nil && q.last != nil) {
			deletes = append(deletes, q)
		}
	}
	for chunk := range chunks(deletes, braze.MaxDeleteIDs) {
		extIDs := make([]string, len(chunk))
		for i, q := range chunk {
			extIDs[i] = q.row.EmailID.String()
		}
		if err := e.esp.Delete(ctx, extIDs); err != nil {
			return 0, e.failed(ctx, chunk, err) // the step stops and backs off
		}
		now := e.opt.Now()
		if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
			for _, q := range chunk {
				if err := e.q.BrazeDeleteAcked(ctx, tx, db.BrazeDeleteAckedParams{EmailID: q.row.EmailID, Seq: q.row.Seq, Now: &now}); err != nil {
					return fmt.Errorf("record deletion: %w", err)
				}
			}
			return e.q.BrazeInFlightClear(ctx, tx)
		}); err != nil {
			return 0, err
		}
		for _, q := range chunk {
			q.last, q.aliases, q.row.ProfileCreatedAt = nil, nil, nil
		}
		e.opt.Metrics.synced("delete", len(chunk))
	}

	// States: a Track request holds at most MaxTrackObjects attributes and events.
	var settled []*queued
	var req trackRequest
	plans := map[*queued]Plan{}
	for _, q := range batch {
		if q.contact == nil {
			settled = append(settled, q)
			continue
		}
		p := Map(q.contact, q.last, m, q.row.FullPush, now)
		if p.Attributes == nil {
			settled = append(settled, q)
			continue
		}
		plans[q] = p
		if !req.fits(p) {
			if err := e.track(ctx, &req, plans); err != nil {
				return 0, err
			}
			req = trackRequest{}
		}
		req.add(q, p)
	}
	if err := e.track(ctx, &req, plans); err != nil {
		return 0, err
	}
	if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		for _, q := range settled {
			if q.contact == nil {
				// Gone, profile deleted: the row goes (the table follows the contacts).
				n, err := e.q.BrazeForget(ctx, tx, db.BrazeForgetParams{EmailID: q.row.EmailID, Seq: q.row.Seq})
				if err != nil {
					return fmt.Errorf("forget contact: %w", err)
				}
				if n == 1 {
					e.lagOf(q)
					continue
				}
			}
			if err := e.settle(ctx, tx, q); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	return len(batch), nil
}

// trackRequest gathers contacts for one /users/track request.
type trackRequest struct {
	items  []*queued
	attrs  []braze.Attributes
	events []braze.Event
	// owner of each attribute and event, by index: a minor error names an index.
	attrOwner, eventOwner []*queued
}

func (r *trackRequest) fits(p Plan) bool {
	return len(r.items) == 0 ||
		(len(r.attrs)+1 <= braze.MaxTrackObjects && len(r.events)+len(p.Events) <= braze.MaxTrackObjects)
}

func (r *trackRequest) add(q *queued, p Plan) {
	r.items = append(r.items, q)
	r.attrs, r.attrOwner = append(r.attrs, p.Attributes), append(r.attrOwner, q)
	for _, ev := range p.Events {
		r.events, r.eventOwner = append(r.events, ev), append(r.eventOwner, q)
	}
}

// track sends req (in several requests when one contact has more events than one
// holds) and records the outcome of each contact.
func (e *Engine) track(ctx context.Context, req *trackRequest, plans map[*queued]Plan) error {
	if len(req.items) == 0 {
		return nil
	}
	bad := map[*queued]string{}
	for i := 0; i == 0 || i < len(req.events); i += braze.MaxTrackObjects {
		var attrs []braze.Attributes
		if i == 0 {
			attrs = req.attrs
		}
		events := req.events[i:min(i+braze.MaxTrackObjects, len(req.events))]
		minor, err := e.esp.Track(ctx, attrs, events)
		if err != nil {
			return e.failed(ctx, req.items, err)
		}
		for _, me := range minor {
			var owner *queued
			switch {
			case me.InputArray == "attributes" && me.Index >= 0 && me.Index < len(attrs):
				owner = req.attrOwner[me.Index]
			case me.InputArray == "events" && me.Index >= 0 && i+me.Index < len(req.eventOwner):
				owner = req.eventOwner[i+me.Index]
			}
			if owner != nil {
				bad[owner] = Redact("braze rejected the " + me.InputArray + " object: " + me.Type)
			}
		}
	}
	now := e.opt.Now()
	e.opt.Metrics.errors("minor", len(bad))
	// The batch's records: failures one by one (rare), acknowledged pushes in one
	// statement, all in one transaction.
	var ok db.BrazeTrackedBatchParams
	ok.Now = &now
	var acked []*queued
	for _, q := range req.items {
		if _, failed := bad[q]; failed {
			continue
		}
		state, err := json.Marshal(plans[q].State)
		if err != nil {
			return err
		}
		due, hasDue := now, false
		if len(AliasesToAdd(q.contact, q.aliases)) > 0 {
			created := now
			if q.row.ProfileCreatedAt != nil && !q.row.FullPush {
				created = *q.row.ProfileCreatedAt
			}
			due, hasDue = created.Add(e.opt.AliasDelay), true
		}
		ok.EmailIds, ok.Seqs, ok.States = append(ok.EmailIds, q.row.EmailID), append(ok.Seqs, q.row.Seq), append(ok.States, string(state))
		ok.FullPushes, ok.HasDue, ok.Due = append(ok.FullPushes, q.row.FullPush), append(ok.HasDue, hasDue), append(ok.Due, due)
		acked = append(acked, q)
	}
	err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		for q, why := range bad {
			if err := e.recordFailure(ctx, tx, q, why); err != nil {
				return err
			}
		}
		if err := e.q.BrazeInFlightClear(ctx, tx); err != nil {
			return err
		}
		if len(acked) == 0 {
			return nil
		}
		if err := e.q.BrazeTrackedBatch(ctx, tx, ok); err != nil {
			return fmt.Errorf("record pushes: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, q := range acked {
		e.lagOf(q)
	}
	e.opt.Metrics.synced("track", len(req.items)-len(bad))
	return nil
}

// settle marks q's queued change as in Braze.
func (e *Engine) settle(ctx context.Context, d db.DBTX, q *queued) error {
	if err := e.q.BrazeSettled(ctx, d, db.BrazeSettledParams{EmailID: q.row.EmailID, Seq: q.row.Seq}); err != nil {
		return fmt.Errorf("record push: %w", err)
	}
	e.lagOf(q)
	return nil
}

// lagOf observes the time from q's oldest change to now.
func (e *Engine) lagOf(q *queued) {
	if q.row.PendingSince != nil {
		e.opt.Metrics.lag(time.Since(*q.row.PendingSince))
	}
}

// failed handles a request that Braze (or the network) refused as a whole: ErrAuth
// stops the step; any other error counts as a failed attempt of each contact, tried
// again after a back-off, parked past the retry limit. It returns the error to stop
// the step with (never nil: the runner then backs off).
func (e *Engine) failed(ctx context.Context, items []*queued, err error) error {
	if errors.Is(err, braze.ErrAuth) {
		e.opt.Metrics.errors("auth", 1)
		return err
	}
	if errors.Is(err, ErrDeposed) {
		return err // not the contacts' fault; the session is gone, so is the lock
	}
	if setupProblem(err) {
		return err // the database refused to record the request (fence.go): not the contacts' fault
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e.opt.Metrics.errors("request", 1)
	why := Redact(err.Error())
	if ferr := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		for _, q := range items {
			if err := e.recordFailure(ctx, tx, q, why); err != nil {
				return err
			}
		}
		return nil
	}); ferr != nil {
		return ferr
	}
	return &TransientError{Err: err}
}

// TransientError is a failed Braze request other than ErrAuth: the contacts were
// charged a retry; the syncer backs off before its next step.
type TransientError struct{ Err error }

func (t *TransientError) Error() string { return "braze request failed: " + Redact(t.Err.Error()) }
func (t *TransientError) Unwrap() error { return t.Err }

func (e *Engine) recordFailure(ctx context.Context, d db.DBTX, q *queued, why string) error {
	next := e.opt.Now().Add(Backoff(int(q.row.Retries), e.opt.RetryMaxDelay))
	if int(q.row.Retries)+1 >= e.opt.MaxRetries {
		e.opt.Logger.Error("contact parked: too many failed pushes", obs.LoggerKey, logger,
			"email_id", q.row.EmailID.String(), "retries", q.row.Retries+1, "error", why)
	}
	err := e.q.BrazeFailed(ctx, d, db.BrazeFailedParams{
		EmailID: q.row.EmailID, LastError: &why, NextAttemptAt: &next, MaxRetries: int32(e.opt.MaxRetries), // #nosec G115 -- a small setting
	})
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	return nil
}

// Backoff is the wait before attempt retries+1 of a contact: 1 s doubling, with
// jitter, at most maxDelay.
func Backoff(retries int, maxDelay time.Duration) time.Duration {
	d := time.Second << min(retries, 30)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return d/2 + rand.N(d/2+1) // #nosec G404 -- jitter, not a secret
}

var emailLike = regexp.MustCompile(`[^\s"'<>,;:()\[\]]+@[^\s"'<>,;:()\[\]]+`)

// Redact keeps addresses out of what is stored and logged (last_error, log lines),
// and bounds its length.
func Redact(s string) string {
	s = emailLike.ReplaceAllString(s, "[address]")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// addAliases adds the aliases that are due (CTMS_BRAZE_ALIAS_DELAY after the
// profile's creation), MaxAliases per request.
func (e *Engine) addAliases(ctx context.Context) (int, error) {
	now := e.opt.Now()
	rows, err := e.q.BrazeAliasesDue(ctx, e.db, db.BrazeAliasesDueParams{Now: &now, MaxRows: 4 * braze.MaxAliases})
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	ids := make([]uuid.UUID, len(rows))
	pushed := make(map[uuid.UUID]map[string]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EmailID
		p := map[string]string{}
		if r.AliasesPushed != nil {
			if err := json.Unmarshal(r.AliasesPushed, &p); err != nil {
				return 0, fmt.Errorf("aliases of %s: %w", r.EmailID, err)
			}
		}
		pushed[r.EmailID] = p
	}
	contacts, err := e.st.Contacts(ctx, ids)
	if err != nil {
		return 0, err
	}
	byID := map[uuid.UUID]*contact.Contact{}
	for i := range contacts {
		byID[contacts[i].Email.EmailID] = &contacts[i]
	}
	type owned struct {
		id      uuid.UUID
		aliases []braze.Alias
	}
	var todo []owned
	var none []uuid.UUID
	for _, id := range ids {
		c := byID[id]
		var add []braze.Alias
		if c != nil {
			add = AliasesToAdd(c, pushed[id])
		}
		if len(add) == 0 {
			none = append(none, id)
			continue
		}
		todo = append(todo, owned{id, add})
	}
	if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		for _, id := range none {
			if err := e.q.BrazeAliasesDrop(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for len(todo) > 0 {
		var req []braze.Alias
		n := 0
		for n < len(todo) && len(req)+len(todo[n].aliases) <= braze.MaxAliases {
			req = append(req, todo[n].aliases...)
			n++
		}
		// Aliases Braze rejected (unknown external id, alias held by another profile):
		// the others were added; these are not tried again until the contact's next push.
		rejected := map[uuid.UUID]string{}
		if err := e.esp.NewAliases(ctx, req); err != nil {
			minor, isMinor := errors.AsType[*braze.MinorErrors](err)
			switch {
			case errors.Is(err, braze.ErrAuth):
				e.opt.Metrics.errors("auth", 1)
				return 0, err
			case errors.Is(err, ErrDeposed):
				return 0, err
			case !isMinor:
				e.opt.Metrics.errors("request", 1)
				return 0, &TransientError{Err: err} // still due: tried again after the back-off
			}
			for _, me := range minor.Errors {
				if me.Index >= 0 && me.Index < len(req) {
					id := uuid.MustParse(req[me.Index].ExternalID) // ours: an email_id
					rejected[id] = Redact("braze rejected the alias " + req[me.Index].Label + ": " + me.Type)
				}
			}
			e.opt.Metrics.errors("minor", len(rejected))
		}
		if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
			for _, o := range todo[:n] {
				if why, ok := rejected[o.id]; ok {
					e.opt.Logger.Warn("alias rejected", obs.LoggerKey, logger, "email_id", o.id.String(), "error", why)
					if err := e.q.BrazeAliasesRejected(ctx, tx, db.BrazeAliasesRejectedParams{EmailID: o.id, LastError: &why}); err != nil {
						return err
					}
					continue
				}
				p := pushed[o.id]
				for _, a := range o.aliases {
					p[a.Label] = a.Name
				}
				b, _ := json.Marshal(p)
				if err := e.q.BrazeAliasesAcked(ctx, tx, db.BrazeAliasesAckedParams{EmailID: o.id, Aliases: b}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
		e.opt.Metrics.synced("alias", n)
		todo = todo[n:]
	}
	return len(rows), nil
}

// chunks yields s in chunks of at most n.
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}
