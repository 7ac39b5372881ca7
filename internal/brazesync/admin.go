package brazesync

// What the operator commands (`ctms sync status | retry | resync | verify | mapping`)
// do; they work on any connection, beside a running syncer.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/store"
)

// Status is the queue's state.
type Status struct {
	Backlog, Retrying, Dead int64
	Oldest                  *time.Time // the oldest change not pushed (nil: none)
	Repairs                 int64      // contacts a new leader pushes again later (fence.go)
}

// ReadStatus reads the queue's state.
func ReadStatus(ctx context.Context, d db.DBTX) (Status, error) {
	r, err := db.New().BrazeStatus(ctx, d)
	if err != nil {
		return Status{}, fmt.Errorf("sync status: %w", err)
	}
	s := Status{Backlog: r.Backlog, Retrying: r.Retrying, Dead: r.Dead, Repairs: r.Repairs}
	if t, ok := r.Oldest.(time.Time); ok { // NULL when nothing is pending
		s.Oldest = &t
	}
	return s, nil
}

// Cursor is where a feed has been read to.
type Cursor struct {
	Feed     string
	Position time.Time
	MovedAt  time.Time
}

// Cursors lists the feeds' positions.
func Cursors(ctx context.Context, d db.DBTX) ([]Cursor, error) {
	rows, err := db.New().BrazeCursors(ctx, d)
	if err != nil {
		return nil, err
	}
	out := make([]Cursor, len(rows))
	for i, r := range rows {
		out[i] = Cursor{Feed: r.Feed, Position: r.PositionTs, MovedAt: r.MovedAt}
	}
	return out, nil
}

// LeaderActive tells whether some session holds the leader lock.
func LeaderActive(ctx context.Context, d db.DBTX) (bool, error) {
	var held bool
	err := d.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks
		WHERE locktype = 'advisory' AND classid = $1::int4::oid AND objid = $2::int4::oid AND objsubid = 2 AND granted
		  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))`,
		int32(lockClass), int32(lockObj)).Scan(&held)
	return held, err
}

// DeadLetter is a parked contact.
type DeadLetter = db.BrazeDeadLettersRow

// DeadLetters lists at most limit parked contacts.
func DeadLetters(ctx context.Context, d db.DBTX, limit int) ([]DeadLetter, error) {
	return db.New().BrazeDeadLetters(ctx, d, int32(min(limit, 1<<30))) // #nosec G115 -- bounded
}

// RetryDead puts the dead letters back into the queue; it returns how many.
func RetryDead(ctx context.Context, d db.DBTX) (int64, error) {
	return db.New().BrazeRetryDead(ctx, d)
}

// Resync queues contacts for a push of every attribute: those of ids when given,
// else those changed since since (nil: all). It returns how many.
func Resync(ctx context.Context, d db.DBTX, ids []uuid.UUID, since *time.Time) (int64, error) {
	return db.New().BrazeResync(ctx, d, db.BrazeResyncParams{EmailIds: ids, Since: since})
}

// MappingEntry is one row of the newsletter mapping.
type MappingEntry = db.BrazeSubscriptionGroup

// MappingList lists the mapping.
func MappingList(ctx context.Context, d db.DBTX) ([]MappingEntry, error) {
	return db.New().BrazeMappingList(ctx, d)
}

// MappingSet maps newsletter to a group; the title defaults to the newsletter's name.
func MappingSet(ctx context.Context, d db.DBTX, newsletter string, group uuid.UUID, title string) error {
	if title == "" {
		title = newsletter
	}
	return db.New().BrazeMappingSet(ctx, d, db.BrazeMappingSetParams{Newsletter: newsletter, SubscriptionGroupID: group, Title: title})
}

// MappingDelete removes newsletter's mapping; false when it had none.
func MappingDelete(ctx context.Context, d db.DBTX, newsletter string) (bool, error) {
	n, err := db.New().BrazeMappingDelete(ctx, d, newsletter)
	return n > 0, err
}

// Drift is one difference between a Braze profile and what CTMS would push. Values
// are left out for fields that hold personal data (Sensitive).
type Drift struct {
	EmailID    uuid.UUID
	Field      string
	Braze      any
	CTMS       any
	Sensitive  bool
	NotInBraze bool // the whole profile is missing
}

// sensitive fields are reported without their values.
var sensitive = map[string]bool{"email": true, "first_name": true, "last_name": true, "user_attributes_v1": true}

// Verify reads the profiles of a random sample of n contacts back from Braze
// (/users/export/ids) and compares them field by field with what CTMS would push.
// Contacts with a push or a repair due are skipped (Braze is about to change). With repair, the
// drifted contacts are queued for a push of every attribute (the running syncer sends
// CTMS's state). It returns the drifts, the number of contacts compared and skipped.
func Verify(ctx context.Context, d store.DB, esp braze.ESP, n int, repair bool) (drifts []Drift, compared, skipped int, err error) {
	q := db.New()
	ids, err := q.BrazeSample(ctx, d, int32(min(n, 1<<30))) // #nosec G115 -- bounded
	if err != nil {
		return nil, 0, 0, err
	}
	m, err := NewEngine(d, esp, Options{}).mapping(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	contacts, err := store.New(d).Contacts(ctx, ids)
	if err != nil {
		return nil, 0, 0, err
	}
	states, err := q.BrazeSyncStates(ctx, d, ids)
	if err != nil {
		return nil, 0, 0, err
	}
	aliasesPushed := map[uuid.UUID]map[string]string{}
	due := map[uuid.UUID]bool{}
	for _, s := range states {
		due[s.EmailID] = s.Due
		var a map[string]string
		if s.AliasesPushed != nil {
			_ = json.Unmarshal(s.AliasesPushed, &a)
		}
		aliasesPushed[s.EmailID] = a
	}
	drifted := map[uuid.UUID]bool{}
	sample := contacts[:0]
	for _, c := range contacts {
		if due[c.Email.EmailID] {
			skipped++
			continue
		}
		sample = append(sample, c)
	}
	for chunk := range chunks(sample, braze.MaxExportIDs) {
		ext := make([]string, len(chunk))
		for i := range chunk {
			ext[i] = chunk[i].Email.EmailID.String()
		}
		profiles, err := esp.Export(ctx, ext)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("braze export: %w", err)
		}
		byID := map[string]braze.Profile{}
		for _, p := range profiles {
			if id, ok := p["external_id"].(string); ok {
				byID[id] = p
			}
		}
		for i := range chunk {
			c := &chunk[i]
			want := Map(c, nil, m, true, time.Now()).Attributes
			p, ok := byID[ext[i]]
			if !ok {
				drifts = append(drifts, Drift{EmailID: c.Email.EmailID, Field: "profile", NotInBraze: true})
				drifted[c.Email.EmailID] = true
				continue
			}
			for _, f := range Compare(want, p, aliasesPushed[c.Email.EmailID]) {
				f.EmailID = c.Email.EmailID
				drifts = append(drifts, f)
				drifted[c.Email.EmailID] = true
			}
		}
	}
	if repair && len(drifted) > 0 {
		if _, err := Resync(ctx, d, slices.Collect(maps.Keys(drifted)), nil); err != nil {
			return drifts, len(sample), skipped, err
		}
	}
	return drifts, len(sample), skipped, nil
}

// comparedFields are the attributes verify compares (update_timestamp and
// _update_existing_only are about the push, not the profile).
var comparedFields = []string{"email", "email_subscribe", "first_name", "last_name", "country", "language",
	"user_attributes_v1", "subscription_groups"}

// Compare lists the fields of profile p that differ from the attributes want. Custom
// attributes are looked for at the top level and under custom_attributes; the
// subscription groups only when the export has them. The aliases acknowledged
// (label → name) must be among the profile's user_aliases.
func Compare(want braze.Attributes, p braze.Profile, aliases map[string]string) []Drift {
	custom, _ := p["custom_attributes"].(map[string]any)
	var out []Drift
	for _, f := range comparedFields {
		got, ok := p[f]
		if !ok && custom != nil {
			got, ok = custom[f]
		}
		if f == "subscription_groups" && !ok {
			continue
		}
		w := normal(want[f])
		if f == "subscription_groups" {
			w, got = groupSet(w), groupSet(normal(got))
		} else {
			got = normal(got)
		}
		if !reflect.DeepEqual(w, got) {
			out = append(out, Drift{Field: f, Braze: got, CTMS: w, Sensitive: sensitive[f]})
		}
	}
	have := map[string]bool{}
	if list, ok := p["user_aliases"].([]any); ok {
		for _, a := range list {
			if o, ok := a.(map[string]any); ok {
				have[fmt.Sprint(o["alias_label"])+"\x00"+fmt.Sprint(o["alias_name"])] = true
			}
		}
	}
	for _, label := range slices.Sorted(maps.Keys(aliases)) {
		if !have[label+"\x00"+aliases[label]] {
			out = append(out, Drift{Field: "alias " + label, Braze: nil, CTMS: "set", Sensitive: true})
		}
	}
	return out
}

// normal is v as JSON decodes it (what an export holds), nil for null.
func normal(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// groupSet is a subscription_groups list as a set (id → state).
func groupSet(v any) any {
	list, _ := v.([]any)
	out := map[string]any{}
	for _, g := range list {
		if o, ok := g.(map[string]any); ok {
			out[fmt.Sprint(o["subscription_group_id"])] = o["subscription_state"]
		}
	}
	return out
}
