package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/ctms-go/ctms/internal/brazefake"
)

// fakeState is GET /_state of ctms-brazefake.
type fakeState = brazefake.State

// expected is a contact's Braze profile as the drill computes it from the database
// (esp-sync mapping as docs/operations.md describes it, written here independently).
type expected struct {
	standard map[string]any           // email, email_subscribe, and the billable fields that are set
	ua       map[string]any           // user_attributes_v1[0], $time values as the fake stores them
	slugs    map[string]bool          // newsletter and waitlist slugs the contact has → subscribed
	aliases  map[brazefake.Alias]bool // fxa_id and basket_token
}

// brazeTime is how the fake stores a {"$time"} value (milliseconds, truncated).
func brazeTime(t time.Time) string { return t.UTC().Format(brazefake.TimeFormat) }

func waitlistSlug(name string) string {
	if name == "vpn" {
		return "guardian-vpn-waitlist"
	}
	return name + "-waitlist"
}

// expectedState reads every contact from the database with the drill's own SQL.
func (d *drill) expectedState(ctx context.Context) (map[string]*expected, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT e.email_id::text, e.primary_email, e.basket_token, e.first_name, e.last_name, e.mailing_country,
		       e.email_lang, coalesce(e.has_opted_out_of_email, false), coalesce(e.double_opt_in, false),
		       e.unsubscribe_reason, e.create_timestamp, e.update_timestamp,
		       f.email_id IS NOT NULL, f.fxa_id, f.created_date, f.first_service, f.lang, f.primary_email,
		       coalesce(f.account_deleted, false)
		FROM emails e LEFT JOIN fxa f ON f.email_id = e.email_id`)
	if err != nil {
		return nil, err
	}
	out := map[string]*expected{}
	for rows.Next() {
		var (
			id, email                                     string
			token, first, last, country, lang, reason     *string
			optedOut, doi, hasFxaRow, fxaDeleted          bool
			created, updated                              time.Time
			fxaID, fxaCreated, fxaService, fxaLang, fxaEm *string
		)
		if err := rows.Scan(&id, &email, &token, &first, &last, &country, &lang, &optedOut, &doi, &reason, &created, &updated,
			&hasFxaRow, &fxaID, &fxaCreated, &fxaService, &fxaLang, &fxaEm, &fxaDeleted); err != nil {
			return nil, err
		}
		sub := "subscribed"
		if optedOut {
			sub = "unsubscribed"
		} else if doi {
			sub = "opted_in"
		}
		x := &expected{standard: map[string]any{"email": email, "email_subscribe": sub}, slugs: map[string]bool{},
			aliases: map[brazefake.Alias]bool{}}
		for k, v := range map[string]*string{"country": country, "language": lang, "first_name": first, "last_name": last} {
			if v != nil {
				x.standard[k] = *v
			}
		}
		str := func(p *string) any {
			if p == nil {
				return nil
			}
			return *p
		}
		var fxaCreatedAt any
		if fxaCreated != nil {
			t, err := time.Parse(time.RFC3339Nano, *fxaCreated)
			if err != nil {
				return nil, fmt.Errorf("fxa.created_date of %s: %w", id, err)
			}
			fxaCreatedAt = brazeTime(t)
		}
		x.ua = map[string]any{
			"basket_token": str(token), "created_at": brazeTime(created), "updated_at": brazeTime(updated),
			"email_lang": str(lang), "mailing_country": str(country), "has_fxa": fxaID != nil,
			"fxa_created_at": fxaCreatedAt, "fxa_first_service": str(fxaService), "fxa_lang": str(fxaLang),
			"fxa_primary_email": str(fxaEm), "fxa_deleted": fxaDeleted, "unsub_reason": str(reason),
		}
		if fxaID != nil {
			x.aliases[brazefake.Alias{Label: "fxa_id", Name: *fxaID}] = true
		}
		if token != nil {
			x.aliases[brazefake.Alias{Label: "basket_token", Name: *token}] = true
		}
		out[id] = x
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	subs, err := d.pool.Query(ctx, `SELECT email_id::text, name, coalesce(subscribed, false), false FROM newsletters
		UNION ALL SELECT email_id::text, name, subscribed, true FROM waitlists`)
	if err != nil {
		return nil, err
	}
	for subs.Next() {
		var id, name string
		var subscribed, waitlist bool
		if err := subs.Scan(&id, &name, &subscribed, &waitlist); err != nil {
			return nil, err
		}
		if waitlist {
			name = waitlistSlug(name)
		}
		if x := out[id]; x != nil {
			x.slugs[name] = subscribed
		}
	}
	return out, subs.Err()
}

// mismatches gathers the differences found, the first ones in full.
type mismatches struct {
	n     int
	first []string
	kinds map[string]int
}

func (m *mismatches) add(kind, id, format string, args ...any) {
	m.n++
	if m.kinds == nil {
		m.kinds = map[string]int{}
	}
	m.kinds[kind]++
	if len(m.first) < 15 {
		m.first = append(m.first, fmt.Sprintf("%s %s: %s", kind, id, fmt.Sprintf(format, args...)))
	}
}

// compare checks every contact's profile and every deletion.
func compare(want map[string]*expected, created map[string]bool, s *fakeState) (*mismatches, int) {
	m := &mismatches{}
	groupSlug := map[string]string{}
	for slug, g := range theMapping {
		groupSlug[g.id] = slug
	}
	staleAliases := 0
	for id, x := range want {
		p, ok := s.Profiles[id]
		if !ok {
			m.add("missing profile", id, "the contact exists in CTMS, not in Braze")
			continue
		}
		if !reflect.DeepEqual(p.Standard, x.standard) {
			m.add("standard fields", id, "braze %v, ctms %v", p.Standard, x.standard)
		}
		var ua any
		if arr, ok := p.Custom["user_attributes_v1"].([]any); ok && len(arr) == 1 {
			ua = arr[0]
		}
		if !reflect.DeepEqual(ua, x.ua) {
			m.add("user_attributes_v1", id, "braze %v, ctms %v", ua, x.ua)
		}
		for k := range p.Custom {
			if k != "user_attributes_v1" && k != "update_timestamp" {
				m.add("custom attribute", id, "unexpected %s", k)
			}
		}
		for gid, state := range p.SubscriptionGroups {
			slug, mapped := groupSlug[gid]
			if !mapped {
				m.add("subscription group", id, "unmapped group %s", gid)
				continue
			}
			sub, has := x.slugs[slug]
			switch {
			case has && (state == "subscribed") != sub:
				m.add("subscription group", id, "%s (%s): braze %s, ctms subscribed=%v", slug, gid, state, sub)
			case !has && state != "unsubscribed":
				m.add("subscription group", id, "%s (%s): braze %s, the contact does not have it", slug, gid, state)
			}
		}
		for slug, sub := range x.slugs {
			g, mapped := theMapping[slug]
			if !mapped {
				continue
			}
			if _, ok := p.SubscriptionGroups[g.id]; !ok {
				m.add("subscription group", id, "%s missing (ctms subscribed=%v)", slug, sub)
			}
		}
		// Events: the last one of each mapped newsletter tells its current state.
		last := map[string]string{}
		for _, e := range p.Events {
			title, kind, ok := strings.Cut(e.Name, " - ")
			if !ok || (kind != "subscribe" && kind != "unsubscribe") {
				m.add("event", id, "unexpected event %q", e.Name)
				continue
			}
			last[title] = kind
		}
		for slug := range theMapping {
			kind, sub := last[titleOf(slug)], x.slugs[slug]
			delete(last, titleOf(slug))
			if (sub && kind != "subscribe") || (!sub && kind == "subscribe") {
				m.add("event", id, "%s: last event %q, ctms subscribed=%v", slug, kind, sub)
			}
		}
		for title := range last {
			m.add("event", id, "event of an unmapped newsletter %q", title)
		}
		have := map[brazefake.Alias]bool{}
		for _, a := range p.Aliases {
			have[a] = true
		}
		for a := range x.aliases {
			if !have[a] {
				m.add("alias", id, "%s missing", a.Label)
			}
		}
		for a := range have {
			if !x.aliases[a] {
				staleAliases++ // an fxa_id the contact no longer has: Braze keeps it (aliases are only added)
			}
		}
	}
	for id := range s.Profiles {
		if want[id] == nil {
			m.add("deletion", id, "a profile in Braze, no contact in CTMS (created by the drill: %v)", created[id])
		}
	}
	return m, staleAliases
}

// orderCheck reads the fake's accepted writes: per contact, the state version (the drill's
// "v<N>" in unsub_reason) and user_attributes_v1.updated_at never go back; after a
// deletion, a new profile carries a newer version than any before; a contact deleted in
// CTMS ends with its deletion.
func orderCheck(want map[string]*expected, s *fakeState) (*mismatches, map[string]int) {
	m := &mismatches{}
	type life struct {
		version   int64
		updated   string
		deleted   bool
		maxBefore int64 // the highest version pushed before the last deletion
		any       bool
	}
	seen := map[string]*life{}
	counts := map[string]int{}
	for _, w := range s.Writes {
		counts[w.Kind]++
		l := seen[w.ExternalID]
		if l == nil {
			l = &life{version: -1}
			seen[w.ExternalID] = l
		}
		switch w.Kind {
		case "delete":
			l.deleted = true
			l.maxBefore = max(l.maxBefore, l.version)
		case "attributes":
			var ua map[string]any
			if arr, ok := w.Attributes["user_attributes_v1"].([]any); ok && len(arr) == 1 {
				ua, _ = arr[0].(map[string]any)
			}
			if ua == nil {
				m.add("write without user_attributes_v1", w.ExternalID, "at %s", w.At.Format(time.RFC3339Nano))
				continue
			}
			v := versionOf(ua["unsub_reason"])
			upd, _ := ua["updated_at"].(string)
			switch {
			case l.deleted && v <= l.maxBefore:
				m.add("re-created after deletion", w.ExternalID, "version v%d accepted at %s after a deletion of a profile at v%d",
					v, w.At.Format(time.RFC3339Nano), l.maxBefore)
			case !l.deleted && v < l.version:
				m.add("out of order", w.ExternalID, "version v%d accepted at %s after v%d", v, w.At.Format(time.RFC3339Nano), l.version)
			case !l.deleted && upd < l.updated:
				m.add("out of order", w.ExternalID, "updated_at %s accepted at %s after %s", upd, w.At.Format(time.RFC3339Nano), l.updated)
			}
			l.version, l.updated, l.deleted, l.any = v, upd, false, true
		}
	}
	for id, l := range seen {
		if want[id] == nil && l.any && !l.deleted {
			m.add("not deleted", id, "the last accepted write of a contact deleted in CTMS is not its deletion")
		}
	}
	return m, counts
}

// finalCheck compares the fake with the database once the syncer has caught up and
// added the aliases that were due (CTMS_BRAZE_ALIAS_DELAY after a profile's creation).
func (d *drill) finalCheck(ctx context.Context, r *report) (bool, error) {
	created := d.created.all()
	for t := time.Now(); time.Since(t) < time.Minute; time.Sleep(500 * time.Millisecond) {
		var due int
		if err := d.pool.QueryRow(ctx, "SELECT count(*) FROM braze_sync_contacts WHERE aliases_due_at IS NOT NULL").Scan(&due); err != nil {
			return false, err
		}
		if due == 0 {
			break
		}
	}
	want, err := d.expectedState(ctx)
	if err != nil {
		return false, err
	}
	s, err := d.fakeState(ctx)
	if err != nil {
		return false, err
	}
	m, stale := compare(want, created, s)
	r.contacts, r.profiles, r.deletedInCTMS, r.staleAliases = len(want), len(s.Profiles), len(created)-len(want), stale
	r.compare = m
	r.order, r.writeCounts = orderCheck(want, s)
	r.fillFromWrites(s, d)
	r.counters = s.Counters
	ok := m.n == 0 && r.order.n == 0
	if !ok && d.o.keep {
		if b, err := json.Marshal(s); err == nil {
			_ = os.WriteFile(filepath.Join(d.dir, "fake-state.json"), b, 0o600)
		}
	}
	return ok, nil
}

// fillFromWrites derives the backfill rate and each takeover's first acknowledged write.
func (r *report) fillFromWrites(s *fakeState, d *drill) {
	backfilled := map[string]bool{}
	for i := 1; i <= d.o.contacts; i++ {
		backfilled[d.backfilled[i].id] = true
	}
	first := map[string]time.Time{}
	var times []time.Time
	for _, w := range s.Writes {
		times = append(times, w.At)
		if w.Kind == "attributes" && backfilled[w.ExternalID] {
			if _, ok := first[w.ExternalID]; !ok {
				first[w.ExternalID] = w.At
			}
		}
	}
	var lastFirst time.Time
	for _, t := range first {
		if t.After(lastFirst) {
			lastFirst = t
		}
	}
	r.backfillPushed = len(first)
	r.backfillTook = lastFirst.Sub(r.syncStart)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	after := func(t time.Time) time.Duration {
		i := sort.Search(len(times), func(i int) bool { return times[i].After(t) })
		if i == len(times) {
			return -1
		}
		return times[i].Sub(t)
	}
	for _, t := range r.takeovers {
		t.firstAck = after(t.at)
	}
	if !r.pgRestart.IsZero() {
		r.pgFirstAck = after(r.pgRestart)
	}
}
