package contact

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Change is what a request says about one field that may be cleared: nothing
// (the field is left alone), null (Given with a nil To: the field is cleared)
// or a new value.
type Change[T any] struct {
	Given bool
	To    *T
}

// Set is the change of a field to v.
func Set[T any](v T) Change[T] { return Change[T]{Given: true, To: &v} }

// Clear is the change of a field to null.
func Clear[T any]() Change[T] { return Change[T]{Given: true} }

func (c Change[T]) applyTo(dst **T) {
	if c.Given {
		*dst = c.To
	}
}

// setIf writes *v to dst when v is given (a field that cannot be cleared).
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Patch is what a PATCH body says: the fields to change, the groups to change
// or delete and the list items to change, create or unsubscribe. Nil pointers
// and zero Changes leave the stored values alone.
//
// A POST or PUT body is read the same way and turned into a whole contact by New.
type Patch struct {
	Email *EmailPatch

	Amo        *AddOnsPatch
	Fxa        *FirefoxAccountsPatch
	Mofo       *MozillaFoundationPatch
	DeleteAmo  bool // "amo": "DELETE"
	DeleteFxa  bool
	DeleteMofo bool

	Newsletters []NewsletterPatch
	Waitlists   []WaitlistPatch
	// UnsubscribeAll... is "newsletters": "UNSUBSCRIBE": every stored item is unsubscribed.
	UnsubscribeAllNewsletters bool
	UnsubscribeAllWaitlists   bool
}

// EmailPatch changes the emails row. EmailID is never written: it only names
// the contact (see ChangesEmailID).
type EmailPatch struct {
	EmailID            *uuid.UUID
	PrimaryEmail       *string
	BasketToken        Change[uuid.UUID]
	DoubleOptIn        *bool
	SfdcID             Change[string]
	FirstName          Change[string]
	LastName           Change[string]
	MailingCountry     Change[string]
	EmailFormat        *string
	EmailLang          Change[string]
	HasOptedOutOfEmail *bool
	UnsubscribeReason  Change[string]
	// EmailIDNull: the PATCH body sent "email_id": null (answered 409 once the
	// contact is found, as the Python CTMS's failing commit is).
	EmailIDNull bool
}

// AddOnsPatch changes the amo group.
type AddOnsPatch struct {
	AddOnIds    Change[string]
	DisplayName Change[string]
	EmailOptIn  *bool
	Language    Change[string]
	LastLogin   Change[time.Time] // a date
	Location    Change[string]
	ProfileURL  Change[string]
	User        *bool
	UserID      Change[string]
	Username    Change[string]
}

// FirefoxAccountsPatch changes the fxa group.
type FirefoxAccountsPatch struct {
	FxaID          Change[string]
	PrimaryEmail   Change[string]
	CreatedDate    Change[string]
	Lang           Change[string]
	FirstService   Change[string]
	AccountDeleted *bool
}

// MozillaFoundationPatch changes the mofo group.
type MozillaFoundationPatch struct {
	MofoEmailID   Change[string]
	MofoContactID Change[string]
	MofoRelevant  *bool
}

// NewsletterPatch changes (or creates) the newsletter Name.
type NewsletterPatch struct {
	Name        string
	Subscribed  *bool
	Format      *string
	Lang        Change[string]
	Source      Change[string]
	UnsubReason Change[string]
}

// WaitlistPatch changes (or creates) the waitlist Name. Fields, when given, is
// the whole new fields object, as sent.
type WaitlistPatch struct {
	Name        string
	Source      Change[string]
	Fields      json.RawMessage // nil: left alone
	Subscribed  *bool
	UnsubReason Change[string]
}

// ChangesEmailID tells whether the patch names an email_id other than id (it
// may repeat the contact's own).
func (p *Patch) ChangesEmailID(id uuid.UUID) bool {
	return p.Email != nil && p.Email.EmailID != nil && *p.Email.EmailID != id
}

// Apply writes the patch onto c. The rules of PATCH:
//   - a group is created with its defaults when absent, then changed; DELETE removes it;
//   - a list item is found by name, or created with the input defaults;
//     an item given as unsubscribed that does not exist is not created;
//   - a waitlist's fields are replaced wholesale, never merged;
//   - UNSUBSCRIBE unsubscribes every stored item of the list.
func (p *Patch) Apply(c *Contact) {
	if p.Email != nil {
		p.Email.applyTo(&c.Email)
	}

	switch {
	case p.DeleteAmo:
		c.Amo = nil
	case p.Amo != nil:
		a := AddOns{}
		if c.Amo != nil {
			a = *c.Amo
		}
		p.Amo.applyTo(&a)
		c.Amo = &a
	}
	switch {
	case p.DeleteFxa:
		c.Fxa = nil
	case p.Fxa != nil:
		f := FirefoxAccounts{}
		if c.Fxa != nil {
			f = *c.Fxa
		}
		p.Fxa.applyTo(&f)
		c.Fxa = &f
	}
	switch {
	case p.DeleteMofo:
		c.Mofo = nil
	case p.Mofo != nil:
		m := MozillaFoundation{}
		if c.Mofo != nil {
			m = *c.Mofo
		}
		p.Mofo.applyTo(&m)
		c.Mofo = &m
	}

	if p.UnsubscribeAllNewsletters {
		for i := range c.Newsletters {
			c.Newsletters[i].Subscribed = false
		}
	}
	for i := range p.Newsletters {
		in := &p.Newsletters[i]
		n := findNewsletter(c.Newsletters, in.Name)
		if n == nil {
			if in.Subscribed != nil && !*in.Subscribed {
				continue // unsubscribing from an unknown newsletter creates nothing
			}
			c.Newsletters = append(c.Newsletters, NewNewsletter(in.Name))
			n = &c.Newsletters[len(c.Newsletters)-1]
		}
		in.applyTo(n)
	}

	if p.UnsubscribeAllWaitlists {
		for i := range c.Waitlists {
			c.Waitlists[i].Subscribed = false
		}
	}
	for i := range p.Waitlists {
		in := &p.Waitlists[i]
		w := findWaitlist(c.Waitlists, in.Name)
		if w == nil {
			if in.Subscribed != nil && !*in.Subscribed {
				continue // as for newsletters
			}
			c.Waitlists = append(c.Waitlists, NewWaitlist(in.Name))
			w = &c.Waitlists[len(c.Waitlists)-1]
		}
		in.applyTo(w)
	}
}

// New is the contact a POST or PUT body describes: the input defaults, with
// the body's values written over them. Every list item is created, subscribed
// or not; the body's DELETE and UNSUBSCRIBE (which these bodies cannot say) are
// ignored.
func New(id uuid.UUID, in *Patch) *Contact {
	c := &Contact{Email: Email{EmailID: id, EmailFormat: DefaultEmailFormat, EmailLang: new(DefaultEmailLang)}}
	if in.Email != nil {
		in.Email.applyTo(&c.Email)
	}
	if in.Amo != nil {
		c.Amo = &AddOns{}
		in.Amo.applyTo(c.Amo)
	}
	if in.Fxa != nil {
		c.Fxa = &FirefoxAccounts{}
		in.Fxa.applyTo(c.Fxa)
	}
	if in.Mofo != nil {
		c.Mofo = &MozillaFoundation{}
		in.Mofo.applyTo(c.Mofo)
	}
	if in.Newsletters != nil {
		c.Newsletters = make([]Newsletter, len(in.Newsletters))
		for i := range in.Newsletters {
			c.Newsletters[i] = NewNewsletter(in.Newsletters[i].Name)
			in.Newsletters[i].applyTo(&c.Newsletters[i])
		}
	}
	if in.Waitlists != nil {
		c.Waitlists = make([]Waitlist, len(in.Waitlists))
		for i := range in.Waitlists {
			c.Waitlists[i] = NewWaitlist(in.Waitlists[i].Name)
			in.Waitlists[i].applyTo(&c.Waitlists[i])
		}
	}
	return c
}

// NewNewsletter is a newsletter with the input defaults: subscribed, HTML, English.
func NewNewsletter(name string) Newsletter {
	return Newsletter{Name: name, Subscribed: true, Format: DefaultNewsletterFormat, Lang: new(DefaultNewsletterLang)}
}

// NewWaitlist is a waitlist with the input defaults: subscribed, no fields.
func NewWaitlist(name string) Waitlist {
	return Waitlist{Name: name, Subscribed: true, Fields: json.RawMessage("{}")}
}

func (e *EmailPatch) applyTo(dst *Email) {
	setIf(&dst.PrimaryEmail, e.PrimaryEmail)
	e.BasketToken.applyTo(&dst.BasketToken)
	setIf(&dst.DoubleOptIn, e.DoubleOptIn)
	e.SfdcID.applyTo(&dst.SfdcID)
	e.FirstName.applyTo(&dst.FirstName)
	e.LastName.applyTo(&dst.LastName)
	e.MailingCountry.applyTo(&dst.MailingCountry)
	setIf(&dst.EmailFormat, e.EmailFormat)
	e.EmailLang.applyTo(&dst.EmailLang)
	setIf(&dst.HasOptedOutOfEmail, e.HasOptedOutOfEmail)
	e.UnsubscribeReason.applyTo(&dst.UnsubscribeReason)
}

func (a *AddOnsPatch) applyTo(dst *AddOns) {
	a.AddOnIds.applyTo(&dst.AddOnIds)
	a.DisplayName.applyTo(&dst.DisplayName)
	setIf(&dst.EmailOptIn, a.EmailOptIn)
	a.Language.applyTo(&dst.Language)
	a.LastLogin.applyTo(&dst.LastLogin)
	a.Location.applyTo(&dst.Location)
	a.ProfileURL.applyTo(&dst.ProfileURL)
	setIf(&dst.User, a.User)
	a.UserID.applyTo(&dst.UserID)
	a.Username.applyTo(&dst.Username)
}

func (f *FirefoxAccountsPatch) applyTo(dst *FirefoxAccounts) {
	f.FxaID.applyTo(&dst.FxaID)
	f.PrimaryEmail.applyTo(&dst.PrimaryEmail)
	f.CreatedDate.applyTo(&dst.CreatedDate)
	f.Lang.applyTo(&dst.Lang)
	f.FirstService.applyTo(&dst.FirstService)
	setIf(&dst.AccountDeleted, f.AccountDeleted)
}

func (m *MozillaFoundationPatch) applyTo(dst *MozillaFoundation) {
	m.MofoEmailID.applyTo(&dst.MofoEmailID)
	m.MofoContactID.applyTo(&dst.MofoContactID)
	setIf(&dst.MofoRelevant, m.MofoRelevant)
}

func (n *NewsletterPatch) applyTo(dst *Newsletter) {
	setIf(&dst.Subscribed, n.Subscribed)
	setIf(&dst.Format, n.Format)
	n.Lang.applyTo(&dst.Lang)
	n.Source.applyTo(&dst.Source)
	n.UnsubReason.applyTo(&dst.UnsubReason)
}

func (w *WaitlistPatch) applyTo(dst *Waitlist) {
	w.Source.applyTo(&dst.Source)
	if w.Fields != nil {
		dst.Fields = w.Fields
	}
	setIf(&dst.Subscribed, w.Subscribed)
	w.UnsubReason.applyTo(&dst.UnsubReason)
}

func findNewsletter(items []Newsletter, name string) *Newsletter {
	for i := range items {
		if items[i].Name == name {
			return &items[i]
		}
	}
	return nil
}

func findWaitlist(items []Waitlist, name string) *Waitlist {
	for i := range items {
		if items[i].Name == name {
			return &items[i]
		}
	}
	return nil
}
