// Package contact is the CTMS domain model: a contact is one primary email with
// optional one-to-one groups (amo, fxa, mofo) and lists of newsletters and
// waitlists. It holds the rules that do not depend on HTTP or SQL: defaults,
// "default group" detection, idempotent equality and the legacy waitlist views.
package contact

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/jsontext"
)

// Contact is a whole contact. A nil group means "no row" (which reads as defaults).
type Contact struct {
	Email       Email
	Amo         *AddOns
	Fxa         *FirefoxAccounts
	Mofo        *MozillaFoundation
	Newsletters []Newsletter // ordered by name (database collation) when read
	Waitlists   []Waitlist   // ordered by name (database collation) when read
}

// Email is the emails row.
type Email struct {
	EmailID            uuid.UUID
	PrimaryEmail       string
	BasketToken        *uuid.UUID
	DoubleOptIn        bool
	SfdcID             *string
	FirstName          *string
	LastName           *string
	MailingCountry     *string
	EmailFormat        string
	EmailLang          *string
	HasOptedOutOfEmail bool
	UnsubscribeReason  *string
	CreateTimestamp    time.Time
	UpdateTimestamp    time.Time
}

// AddOns is the addons.mozilla.org group.
type AddOns struct {
	AddOnIds        *string
	DisplayName     *string
	EmailOptIn      bool
	Language        *string
	LastLogin       *time.Time // a date
	Location        *string
	ProfileURL      *string
	User            bool
	UserID          *string
	Username        *string
	CreateTimestamp *time.Time
	UpdateTimestamp *time.Time
}

// FirefoxAccounts is the fxa group (its timestamps are never shown).
type FirefoxAccounts struct {
	FxaID          *string
	PrimaryEmail   *string
	CreatedDate    *string
	Lang           *string
	FirstService   *string
	AccountDeleted bool
}

// MozillaFoundation is the mofo group (its timestamps are never shown).
type MozillaFoundation struct {
	MofoEmailID   *string
	MofoContactID *string
	MofoRelevant  bool
}

// Newsletter is one newsletter subscription.
type Newsletter struct {
	Name            string
	Subscribed      bool
	Format          string
	Lang            *string
	Source          *string
	UnsubReason     *string
	CreateTimestamp time.Time
	UpdateTimestamp time.Time
}

// Waitlist is one waitlist subscription; Fields is the stored JSON object, verbatim.
type Waitlist struct {
	Name            string
	Source          *string
	Fields          json.RawMessage
	Subscribed      bool
	UnsubReason     *string
	CreateTimestamp time.Time
	UpdateTimestamp time.Time
}

// Identity is the set of identifiers of a contact.
type Identity struct {
	EmailID         uuid.UUID
	PrimaryEmail    string
	BasketToken     *string
	SfdcID          *string
	MofoContactID   *string
	MofoEmailID     *string
	AmoUserID       *string
	FxaID           *string
	FxaPrimaryEmail *string
}

// Input defaults, used when a field is omitted on POST/PUT or an item is created by PATCH.
const (
	DefaultEmailFormat      = "H"
	DefaultEmailLang        = "en"
	DefaultNewsletterFormat = "H"
	DefaultNewsletterLang   = "en"
)

// IsDefault reports whether every field has its default: such a group is not stored.
func (a *AddOns) IsDefault() bool {
	return a == nil || (a.AddOnIds == nil && a.DisplayName == nil && !a.EmailOptIn && a.Language == nil &&
		a.LastLogin == nil && a.Location == nil && a.ProfileURL == nil && !a.User && a.UserID == nil && a.Username == nil)
}

// IsDefault reports whether every field has its default.
func (f *FirefoxAccounts) IsDefault() bool {
	return f == nil || (f.FxaID == nil && f.PrimaryEmail == nil && f.CreatedDate == nil && f.Lang == nil &&
		f.FirstService == nil && !f.AccountDeleted)
}

// IsDefault reports whether every field has its default.
func (m *MozillaFoundation) IsDefault() bool {
	return m == nil || (m.MofoEmailID == nil && m.MofoContactID == nil && !m.MofoRelevant)
}

// SameContent compares the stored values of two amo groups (timestamps aside).
func (a *AddOns) SameContent(b *AddOns) bool {
	if a.IsDefault() || b.IsDefault() {
		return a.IsDefault() && b.IsDefault()
	}
	return eq(a.AddOnIds, b.AddOnIds) && eq(a.DisplayName, b.DisplayName) && a.EmailOptIn == b.EmailOptIn &&
		eq(a.Language, b.Language) && sameDate(a.LastLogin, b.LastLogin) && eq(a.Location, b.Location) &&
		eq(a.ProfileURL, b.ProfileURL) && a.User == b.User && eq(a.UserID, b.UserID) && eq(a.Username, b.Username)
}

// SameContent compares two fxa groups; absent and default are the same.
func (f *FirefoxAccounts) SameContent(g *FirefoxAccounts) bool {
	if f.IsDefault() || g.IsDefault() {
		return f.IsDefault() && g.IsDefault()
	}
	return eq(f.FxaID, g.FxaID) && eq(f.PrimaryEmail, g.PrimaryEmail) && eq(f.CreatedDate, g.CreatedDate) &&
		eq(f.Lang, g.Lang) && eq(f.FirstService, g.FirstService) && f.AccountDeleted == g.AccountDeleted
}

// SameContent compares two mofo groups; absent and default are the same.
func (m *MozillaFoundation) SameContent(n *MozillaFoundation) bool {
	if m.IsDefault() || n.IsDefault() {
		return m.IsDefault() && n.IsDefault()
	}
	return eq(m.MofoEmailID, n.MofoEmailID) && eq(m.MofoContactID, n.MofoContactID) && m.MofoRelevant == n.MofoRelevant
}

// SameContent compares the input fields of two newsletters.
func (n *Newsletter) SameContent(o *Newsletter) bool {
	return n.Name == o.Name && n.Subscribed == o.Subscribed && n.Format == o.Format && eq(n.Lang, o.Lang) &&
		eq(n.Source, o.Source) && eq(n.UnsubReason, o.UnsubReason)
}

// SameContent compares the input fields of two waitlists; fields compare as JSON values.
func (w *Waitlist) SameContent(o *Waitlist) bool {
	return w.Name == o.Name && eq(w.Source, o.Source) && w.Subscribed == o.Subscribed &&
		eq(w.UnsubReason, o.UnsubReason) && SameJSON(w.Fields, o.Fields)
}

// SameEmail compares the input fields of two emails rows (timestamps aside).
func (e *Email) SameEmail(o *Email) bool {
	return e.EmailID == o.EmailID && e.PrimaryEmail == o.PrimaryEmail && eqUUID(e.BasketToken, o.BasketToken) &&
		e.DoubleOptIn == o.DoubleOptIn && eq(e.SfdcID, o.SfdcID) && eq(e.FirstName, o.FirstName) &&
		eq(e.LastName, o.LastName) && eq(e.MailingCountry, o.MailingCountry) && e.EmailFormat == o.EmailFormat &&
		eq(e.EmailLang, o.EmailLang) && e.HasOptedOutOfEmail == o.HasOptedOutOfEmail &&
		eq(e.UnsubscribeReason, o.UnsubscribeReason)
}

// IdempotentlyEqual tells whether re-POSTing c over stored changes nothing: the
// rule that makes a repeated POST answer 200 instead of 409.
func IdempotentlyEqual(stored, c *Contact) bool {
	if !stored.Email.SameEmail(&c.Email) || !stored.Amo.SameContent(c.Amo) ||
		!stored.Fxa.SameContent(c.Fxa) || !stored.Mofo.SameContent(c.Mofo) {
		return false
	}
	if len(stored.Newsletters) != len(c.Newsletters) || len(stored.Waitlists) != len(c.Waitlists) {
		return false
	}
	byName := make(map[string]*Newsletter, len(stored.Newsletters))
	for i := range stored.Newsletters {
		byName[stored.Newsletters[i].Name] = &stored.Newsletters[i]
	}
	for i := range c.Newsletters {
		s, ok := byName[c.Newsletters[i].Name]
		if !ok || !s.SameContent(&c.Newsletters[i]) {
			return false
		}
	}
	wByName := make(map[string]*Waitlist, len(stored.Waitlists))
	for i := range stored.Waitlists {
		wByName[stored.Waitlists[i].Name] = &stored.Waitlists[i]
	}
	for i := range c.Waitlists {
		s, ok := wByName[c.Waitlists[i].Name]
		if !ok || !s.SameContent(&c.Waitlists[i]) {
			return false
		}
	}
	return true
}

// VPNWaitlist is the legacy vpn_waitlist view: geo and platform of the subscribed
// waitlist named exactly "vpn".
func (c *Contact) VPNWaitlist() (geo, platform *string) {
	for i := range c.Waitlists {
		w := &c.Waitlists[i]
		if w.Name == "vpn" && w.Subscribed {
			return fieldString(w.Fields, "geo"), fieldString(w.Fields, "platform")
		}
	}
	return nil, nil
}

// RelayWaitlistGeo is the legacy relay_waitlist view: the first non-null geo among
// subscribed waitlists whose name starts with "relay", in name order.
func (c *Contact) RelayWaitlistGeo() *string {
	for i := range c.Waitlists {
		w := &c.Waitlists[i]
		if w.Subscribed && len(w.Name) >= 5 && w.Name[:5] == "relay" {
			if g := fieldString(w.Fields, "geo"); g != nil {
				return g
			}
		}
	}
	return nil
}

// fieldString reads a string member of a waitlist's fields; anything else
// (absent, null, another type) is nil.
func fieldString(fields json.RawMessage, key string) *string {
	text, ok := memberText(fields, key)
	if !ok { // a member name with escapes: decode the whole object
		var m map[string]json.RawMessage
		if json.Unmarshal(fields, &m) != nil {
			return nil
		}
		text = m[key]
	}
	if len(text) < 2 || text[0] != '"' {
		return nil
	}
	if bytes.IndexByte(text, '\\') < 0 && utf8.Valid(text) {
		return new(string(text[1 : len(text)-1]))
	}
	var s string
	if json.Unmarshal(text, &s) != nil {
		return nil
	}
	return &s
}

// memberText is the text of the value of the member key of the JSON object
// obj (nil when obj has no such member or is no object; the last one when the
// name repeats, as decoding into a map keeps). ok is false when the scan
// cannot tell (see members).
func memberText(obj []byte, key string) (text []byte, ok bool) {
	_, ok = members(obj, func(name, value []byte) {
		if string(name) == key {
			text = value
		}
	})
	if !ok {
		return nil, false
	}
	return text, true
}

// SameJSON compares two JSON documents as values (key order and spacing aside).
func SameJSON(a, b json.RawMessage) bool {
	if sameTokens(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(orEmptyObject(a), &x) != nil || json.Unmarshal(orEmptyObject(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// sameTokens reports whether two JSON texts are the same but for the spacing
// between tokens (the common case: one text stored by a client that spaces it),
// which makes them the same value without decoding them.
func sameTokens(a, b []byte) bool {
	i, j, inString := 0, 0, false
	for {
		if !inString {
			i, j = jsontext.SkipSpace(a, i), jsontext.SkipSpace(b, j)
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i] != b[j] {
			return false
		}
		c := a[i]
		i, j = i+1, j+1
		switch {
		case inString && c == '\\': // the escaped byte compares as is
			if i == len(a) || j == len(b) || a[i] != b[j] {
				return false
			}
			i, j = i+1, j+1
		case c == '"':
			inString = !inString
		}
	}
}

func orEmptyObject(j json.RawMessage) json.RawMessage {
	if len(j) == 0 {
		return json.RawMessage("{}")
	}
	return j
}

func eq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func eqUUID(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameDate(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Format(time.DateOnly) == b.Format(time.DateOnly)
}

// Clone returns a deep enough copy for a read-modify-write: groups and lists are
// copied, the immutable values they point to are shared.
func (c *Contact) Clone() *Contact {
	n := *c
	if c.Amo != nil {
		n.Amo = new(*c.Amo)
	}
	if c.Fxa != nil {
		n.Fxa = new(*c.Fxa)
	}
	if c.Mofo != nil {
		n.Mofo = new(*c.Mofo)
	}
	n.Newsletters = append([]Newsletter(nil), c.Newsletters...)
	n.Waitlists = append([]Waitlist(nil), c.Waitlists...)
	return &n
}
