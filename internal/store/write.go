package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

func emailUpsertParams(e *contact.Email) db.EmailUpsertParams {
	var token *string
	if e.BasketToken != nil {
		token = new(e.BasketToken.String()) // canonical lower-case form
	}
	return db.EmailUpsertParams{
		EmailID: e.EmailID, PrimaryEmail: e.PrimaryEmail, BasketToken: token, SfdcID: e.SfdcID,
		FirstName: e.FirstName, LastName: e.LastName, MailingCountry: e.MailingCountry,
		EmailFormat: new(e.EmailFormat), EmailLang: e.EmailLang,
		HasOptedOutOfEmail: new(e.HasOptedOutOfEmail), UnsubscribeReason: e.UnsubscribeReason,
		DoubleOptIn: new(e.DoubleOptIn),
	}
}

func emailUpdateParams(e *contact.Email) db.EmailUpdateParams {
	p := emailUpsertParams(e)
	return db.EmailUpdateParams{
		PrimaryEmail: p.PrimaryEmail, BasketToken: p.BasketToken, SfdcID: p.SfdcID,
		FirstName: p.FirstName, LastName: p.LastName, MailingCountry: p.MailingCountry,
		EmailFormat: p.EmailFormat, EmailLang: p.EmailLang, HasOptedOutOfEmail: p.HasOptedOutOfEmail,
		UnsubscribeReason: p.UnsubscribeReason, DoubleOptIn: p.DoubleOptIn, EmailID: p.EmailID,
	}
}

// createParams is the whole of a new contact for ContactCreate: groups that hold
// only defaults are not stored.
func createParams(c *contact.Contact) (db.ContactCreateParams, error) {
	e := emailUpsertParams(&c.Email)
	p := db.ContactCreateParams{
		EmailID: e.EmailID, PrimaryEmail: e.PrimaryEmail, BasketToken: e.BasketToken, SfdcID: e.SfdcID,
		FirstName: e.FirstName, LastName: e.LastName, MailingCountry: e.MailingCountry,
		EmailFormat: e.EmailFormat, EmailLang: e.EmailLang, HasOptedOutOfEmail: e.HasOptedOutOfEmail,
		UnsubscribeReason: e.UnsubscribeReason, DoubleOptIn: e.DoubleOptIn,
	}
	if a := c.Amo; !a.IsDefault() {
		p.HasAmo = true
		p.AmoAddOnIds, p.AmoDisplayName, p.AmoEmailOptIn, p.AmoLanguage = a.AddOnIds, a.DisplayName, a.EmailOptIn, a.Language
		p.AmoLastLogin, p.AmoLocation, p.AmoProfileUrl, p.AmoIsUser = a.LastLogin, a.Location, a.ProfileURL, a.User
		p.AmoUserID, p.AmoUsername = a.UserID, a.Username
	}
	if f := c.Fxa; !f.IsDefault() {
		p.HasFxa = true
		p.FxaFxaID, p.FxaPrimaryEmail, p.FxaCreatedDate = f.FxaID, f.PrimaryEmail, f.CreatedDate
		p.FxaLang, p.FxaFirstService, p.FxaAccountDeleted = f.Lang, f.FirstService, f.AccountDeleted
	}
	if m := c.Mofo; !m.IsDefault() {
		p.HasMofo = true
		p.MofoEmailID, p.MofoContactID, p.MofoRelevant = m.MofoEmailID, m.MofoContactID, m.MofoRelevant
	}
	var err error
	if p.Newsletters, err = newsletterItems(c.Newsletters, nil); err != nil {
		return p, err
	}
	p.Waitlists, err = waitlistItems(c.Waitlists, nil)
	return p, err
}

// queueChildren queues the statements that bring the groups and lists of the
// stored contact old to those of c. With old nil (PUT) everything is replaced:
// every present group and listed item is written, bumping its update_timestamp,
// and the rest deleted; otherwise (PATCH) only what changed is written.
func (s *Store) queueChildren(ctx context.Context, p *pipeline, old, c *contact.Contact) error {
	replace := old == nil
	if replace {
		old = &contact.Contact{}
	}
	id := c.Email.EmailID

	switch {
	case c.Amo.IsDefault():
		if replace || old.Amo != nil {
			p.Queue("AmoDelete", s.q.AmoDelete(ctx, p, id))
		}
	case replace || old.Amo == nil || !old.Amo.SameContent(c.Amo):
		a := c.Amo
		p.Queue("AmoUpsert", s.q.AmoUpsert(ctx, p, db.AmoUpsertParams{
			EmailID: id, AddOnIds: a.AddOnIds, DisplayName: a.DisplayName, EmailOptIn: new(a.EmailOptIn),
			Language: a.Language, LastLogin: a.LastLogin, Location: a.Location, ProfileUrl: a.ProfileURL,
			IsUser: new(a.User), UserID: a.UserID, Username: a.Username,
		}))
	}

	switch {
	case c.Fxa.IsDefault():
		if replace || old.Fxa != nil {
			p.Queue("FxaDelete", s.q.FxaDelete(ctx, p, id))
		}
	case replace || old.Fxa == nil || !old.Fxa.SameContent(c.Fxa):
		f := c.Fxa
		p.Queue("FxaUpsert", s.q.FxaUpsert(ctx, p, db.FxaUpsertParams{
			EmailID: id, FxaID: f.FxaID, PrimaryEmail: f.PrimaryEmail, CreatedDate: f.CreatedDate,
			Lang: f.Lang, FirstService: f.FirstService, AccountDeleted: new(f.AccountDeleted),
		}))
	}

	switch {
	case c.Mofo.IsDefault():
		if replace || old.Mofo != nil {
			p.Queue("MofoDelete", s.q.MofoDelete(ctx, p, id))
		}
	case replace || old.Mofo == nil || !old.Mofo.SameContent(c.Mofo):
		m := c.Mofo
		p.Queue("MofoUpsert", s.q.MofoUpsert(ctx, p, db.MofoUpsertParams{
			EmailID: id, MofoEmailID: m.MofoEmailID, MofoContactID: m.MofoContactID, MofoRelevant: new(m.MofoRelevant),
		}))
	}

	if err := s.queueNewsletters(ctx, p, old, c, replace); err != nil {
		return err
	}
	return s.queueWaitlists(ctx, p, old, c, replace)
}

type newsletterItem struct {
	Name        string  `json:"name"`
	Subscribed  bool    `json:"subscribed"`
	Format      string  `json:"format"`
	Lang        *string `json:"lang"`
	Source      *string `json:"source"`
	UnsubReason *string `json:"unsub_reason"`
}

// newsletterItems is the JSON array NewslettersUpsert takes: the newsletters of
// list that differ from their stored version (every one when stored is nil).
func newsletterItems(list []contact.Newsletter, stored map[string]*contact.Newsletter) ([]byte, error) {
	changed := make([]newsletterItem, 0, len(list))
	for i := range list {
		n := &list[i]
		if prev, ok := stored[n.Name]; ok && prev.SameContent(n) {
			continue
		}
		changed = append(changed, newsletterItem{n.Name, n.Subscribed, n.Format, n.Lang, n.Source, n.UnsubReason})
	}
	if len(changed) == 0 {
		return nil, nil
	}
	items, err := json.Marshal(changed)
	if err != nil {
		return nil, fmt.Errorf("newsletters encode: %w", err)
	}
	return items, nil
}

func (s *Store) queueNewsletters(ctx context.Context, p *pipeline, old, c *contact.Contact, replace bool) error {
	var stored map[string]*contact.Newsletter
	if !replace {
		stored = make(map[string]*contact.Newsletter, len(old.Newsletters))
		for i := range old.Newsletters {
			stored[old.Newsletters[i].Name] = &old.Newsletters[i]
		}
	}
	keep := make([]string, len(c.Newsletters))
	for i := range c.Newsletters {
		keep[i] = c.Newsletters[i].Name
	}
	if replace || removesAny(stored, keep) {
		p.Queue("NewslettersDeleteExcept", s.q.NewslettersDeleteExcept(ctx, p, db.NewslettersDeleteExceptParams{EmailID: c.Email.EmailID, KeepNames: keep}))
	}
	items, err := newsletterItems(c.Newsletters, stored)
	if err != nil || items == nil {
		return err
	}
	p.Queue("NewslettersUpsert", s.q.NewslettersUpsert(ctx, p, db.NewslettersUpsertParams{EmailID: c.Email.EmailID, Items: items}))
	return nil
}

type waitlistItem struct {
	Name        string          `json:"name"`
	Source      *string         `json:"source"`
	Fields      json.RawMessage `json:"fields"`
	Subscribed  bool            `json:"subscribed"`
	UnsubReason *string         `json:"unsub_reason"`
}

// waitlistItems is the JSON array WaitlistsUpsert takes: the waitlists of list
// that differ from their stored version (every one when stored is nil).
func waitlistItems(list []contact.Waitlist, stored map[string]*contact.Waitlist) ([]byte, error) {
	changed := make([]waitlistItem, 0, len(list))
	for i := range list {
		w := &list[i]
		if prev, ok := stored[w.Name]; ok && prev.SameContent(w) {
			continue
		}
		fields := w.Fields
		if len(fields) == 0 {
			fields = json.RawMessage("{}")
		}
		changed = append(changed, waitlistItem{w.Name, w.Source, fields, w.Subscribed, w.UnsubReason})
	}
	if len(changed) == 0 {
		return nil, nil
	}
	items, err := json.Marshal(changed)
	if err != nil {
		return nil, fmt.Errorf("waitlists encode: %w", err)
	}
	return items, nil
}

func (s *Store) queueWaitlists(ctx context.Context, p *pipeline, old, c *contact.Contact, replace bool) error {
	var stored map[string]*contact.Waitlist
	if !replace {
		stored = make(map[string]*contact.Waitlist, len(old.Waitlists))
		for i := range old.Waitlists {
			stored[old.Waitlists[i].Name] = &old.Waitlists[i]
		}
	}
	keep := make([]string, len(c.Waitlists))
	for i := range c.Waitlists {
		keep[i] = c.Waitlists[i].Name
	}
	if replace || removesAny(stored, keep) {
		p.Queue("WaitlistsDeleteExcept", s.q.WaitlistsDeleteExcept(ctx, p, db.WaitlistsDeleteExceptParams{EmailID: c.Email.EmailID, KeepNames: keep}))
	}
	items, err := waitlistItems(c.Waitlists, stored)
	if err != nil || items == nil {
		return err
	}
	p.Queue("WaitlistsUpsert", s.q.WaitlistsUpsert(ctx, p, db.WaitlistsUpsertParams{EmailID: c.Email.EmailID, Items: items}))
	return nil
}

// removesAny reports whether some stored name is not in keep.
func removesAny[T any](stored map[string]*T, keep []string) bool {
	kept := make(map[string]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	for name := range stored {
		if !kept[name] {
			return true
		}
	}
	return false
}
