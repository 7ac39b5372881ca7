// Package brazesync is `ctms sync`: it keeps a Braze workspace equal to CTMS. It reads
// the database's change feeds (the ones /updates and /deletions read, behind the same
// guard against late commits), queues the changed contacts in braze_sync_contacts,
// pushes each one's latest state through braze.ESP in batches, and records what Braze
// acknowledged, so that the next push only sends what changed
// (sql/migrations/00009_braze_sync.sql).
//
// This file is the mapping of a contact to a Braze profile, a pure function: the
// production mapping of Basket's Braze backend (Mozilla's), kept here in docs/operations.md.
package brazesync

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/contact"
)

// Group is the Braze subscription group of a newsletter (or waitlist slug); its title
// names the newsletter's events.
type Group struct {
	ID    uuid.UUID
	Title string
}

// Mapping maps newsletter slugs (waitlists as WaitlistSlug names them) to groups.
type Mapping map[string]Group

// WaitlistSlug is the newsletter name Basket gives a waitlist: "<name>-waitlist", and
// the legacy "guardian-vpn-waitlist" for the vpn waitlist.
func WaitlistSlug(name string) string {
	if name == "vpn" {
		return "guardian-vpn-waitlist"
	}
	return name + "-waitlist"
}

// State is what was sent to Braze for a contact, as acknowledged (kept as JSON in
// braze_sync_contacts.last_pushed). Subscribed holds every newsletter and waitlist slug
// (mapped or not) so that mapping one later sends no event for an old subscription.
type State struct {
	Email          string          `json:"email"`
	EmailSubscribe string          `json:"email_subscribe"`
	Groups         []GroupState    `json:"subscription_groups"`
	UserAttributes UserAttributes  `json:"user_attributes_v1"`
	Country        *string         `json:"country"`
	Language       *string         `json:"language"`
	FirstName      *string         `json:"first_name"`
	LastName       *string         `json:"last_name"`
	Subscribed     map[string]bool `json:"subscribed"`
}

// GroupState is one element of subscription_groups.
type GroupState struct {
	ID    string `json:"subscription_group_id"`
	State string `json:"subscription_state"` // "subscribed" or "unsubscribed"
}

// Time is Braze's form of a time attribute.
type Time struct {
	Time string `json:"$time"`
}

// UserAttributes is the nested custom attribute user_attributes_v1.
type UserAttributes struct {
	BasketToken     *string `json:"basket_token"`
	CreatedAt       Time    `json:"created_at"`
	UpdatedAt       Time    `json:"updated_at"`
	EmailLang       *string `json:"email_lang"`
	MailingCountry  *string `json:"mailing_country"`
	HasFxa          bool    `json:"has_fxa"`
	FxaCreatedAt    *Time   `json:"fxa_created_at"`
	FxaFirstService *string `json:"fxa_first_service"`
	FxaLang         *string `json:"fxa_lang"`
	FxaPrimaryEmail *string `json:"fxa_primary_email"`
	FxaDeleted      bool    `json:"fxa_deleted"`
	UnsubReason     *string `json:"unsub_reason"`
}

// Plan is what one push of a contact sends.
type Plan struct {
	Attributes braze.Attributes // nil: Braze already has this state, nothing to send
	Events     []braze.Event
	State      State // to record once Braze acknowledged the push
}

// isoTime is the ISO-8601 form of times sent to Braze.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// StateOf is the state of c that a push sends (subscription groups aside: they need
// the mapping).
func StateOf(c *contact.Contact) State {
	e := &c.Email
	s := State{
		Email: e.PrimaryEmail, EmailSubscribe: "subscribed",
		Country: e.MailingCountry, Language: e.EmailLang, FirstName: e.FirstName, LastName: e.LastName,
		Subscribed: map[string]bool{},
	}
	switch {
	case e.HasOptedOutOfEmail:
		s.EmailSubscribe = "unsubscribed"
	case e.DoubleOptIn:
		s.EmailSubscribe = "opted_in"
	}
	for _, n := range c.Newsletters {
		s.Subscribed[n.Name] = n.Subscribed
	}
	for _, w := range c.Waitlists {
		s.Subscribed[WaitlistSlug(w.Name)] = w.Subscribed
	}
	ua := UserAttributes{
		CreatedAt: Time{isoTime(e.CreateTimestamp)}, UpdatedAt: Time{isoTime(e.UpdateTimestamp)},
		EmailLang: e.EmailLang, MailingCountry: e.MailingCountry, UnsubReason: e.UnsubscribeReason,
	}
	if e.BasketToken != nil {
		t := e.BasketToken.String()
		ua.BasketToken = &t
	}
	if f := c.Fxa; f != nil {
		ua.HasFxa = f.FxaID != nil
		if f.CreatedDate != nil {
			ua.FxaCreatedAt = &Time{*f.CreatedDate}
		}
		ua.FxaFirstService, ua.FxaLang, ua.FxaPrimaryEmail, ua.FxaDeleted = f.FirstService, f.Lang, f.PrimaryEmail, f.AccountDeleted
	}
	s.UserAttributes = ua
	return s
}

// groups is subscription_groups: one element per mapped group of a newsletter in
// s.Subscribed; subscribed when any newsletter of the group is.
func groups(s *State, m Mapping) []GroupState {
	state := map[string]bool{}
	for slug, sub := range s.Subscribed {
		if g, ok := m[slug]; ok {
			state[g.ID.String()] = state[g.ID.String()] || sub
		}
	}
	out := make([]GroupState, 0, len(state))
	for _, id := range slices.Sorted(maps.Keys(state)) {
		st := "unsubscribed"
		if state[id] {
			st = "subscribed"
		}
		out = append(out, GroupState{ID: id, State: st})
	}
	return out
}

// Map plans the push of c given last, the state Braze acknowledged last (nil: no
// profile yet), and the mapping m. full (a resync or a repair) sends every attribute
// even when Braze should have them. now is the push's time (update_timestamp).
//
//   - external_id is the email_id; email, email_subscribe, subscription_groups and
//     user_attributes_v1 are sent with every push;
//   - the billable fields (country, language, first_name, last_name) only when new or
//     changed: set ones on a first push, changed ones afterwards, all on a full push;
//   - one "<title> - subscribe" / "<title> - unsubscribe" event per mapped newsletter
//     whose state differs from last (on a first push, one per subscribed newsletter);
//   - _update_existing_only is false on a first push (it creates the profile), true after.
func Map(c *contact.Contact, last *State, m Mapping, full bool, now time.Time) Plan {
	s := StateOf(c)
	if last != nil {
		// A newsletter the contact no longer has stays, unsubscribed: its removal
		// reaches Braze (and the state stays comparable with the next one).
		for slug := range last.Subscribed {
			if _, ok := s.Subscribed[slug]; !ok {
				s.Subscribed[slug] = false
			}
		}
	}
	s.Groups = groups(&s, m)
	id := c.Email.EmailID.String()

	var events []braze.Event
	for _, slug := range slices.Sorted(maps.Keys(m)) {
		cur, prev := s.Subscribed[slug], last != nil && last.Subscribed[slug]
		if cur == prev {
			continue
		}
		name := m[slug].Title + " - subscribe"
		if !cur {
			name = m[slug].Title + " - unsubscribe"
		}
		events = append(events, braze.Event{"external_id": id, "name": name, "time": isoTime(c.Email.UpdateTimestamp)})
	}
	if !full && last != nil && len(events) == 0 && sameState(&s, last) {
		return Plan{State: s}
	}
	a := braze.Attributes{
		"external_id":           id,
		"email":                 s.Email,
		"email_subscribe":       s.EmailSubscribe,
		"subscription_groups":   s.Groups,
		"user_attributes_v1":    []UserAttributes{s.UserAttributes},
		"_update_existing_only": last != nil && !full,
		"update_timestamp":      isoTime(now),
	}
	for _, b := range []struct {
		name      string
		cur, prev *string
	}{
		{"country", s.Country, nil}, {"language", s.Language, nil},
		{"first_name", s.FirstName, nil}, {"last_name", s.LastName, nil},
	} {
		if last != nil {
			b.prev = map[string]*string{"country": last.Country, "language": last.Language,
				"first_name": last.FirstName, "last_name": last.LastName}[b.name]
		}
		switch {
		case full:
			a[b.name] = b.cur
		case last == nil && b.cur != nil:
			a[b.name] = *b.cur
		case last != nil && !eqStr(b.cur, b.prev):
			a[b.name] = b.cur // nil: null clears it
		}
	}
	return Plan{Attributes: a, Events: events, State: s}
}

func eqStr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// sameState compares two states as their JSON (what was stored and read back).
func sameState(a, b *State) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// Aliases is the aliases c should have: fxa_id when it has one, basket_token when set.
func Aliases(c *contact.Contact) map[string]string {
	out := map[string]string{}
	if c.Fxa != nil && c.Fxa.FxaID != nil && *c.Fxa.FxaID != "" {
		out["fxa_id"] = *c.Fxa.FxaID
	}
	if c.Email.BasketToken != nil {
		out["basket_token"] = c.Email.BasketToken.String()
	}
	return out
}

// AliasesToAdd is the aliases of c that pushed (label → name, acknowledged) lacks.
func AliasesToAdd(c *contact.Contact, pushed map[string]string) []braze.Alias {
	want := Aliases(c)
	var out []braze.Alias
	for _, label := range slices.Sorted(maps.Keys(want)) {
		if pushed[label] != want[label] {
			out = append(out, braze.Alias{ExternalID: c.Email.EmailID.String(), Label: label, Name: want[label]})
		}
	}
	return out
}
