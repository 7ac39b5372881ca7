package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/oapi-codegen/nullable"
	"github.com/oapi-codegen/runtime"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
)

// patch is a validated PATCH body, ready to apply to a stored contact. It is
// prepared before the contact is loaded so that invalid input answers 422 even
// for an unknown email_id, as in the Python CTMS.
type patch struct {
	email                *api.EmailPatchSchema
	amo                  *api.AddOnsPatchSchema
	fxa                  *api.FirefoxAccountsPatchSchema
	mofo                 *api.MozillaFoundationPatchSchema
	deleteAmo, deleteFxa bool
	deleteMofo           bool
	newsletters          []api.NewsletterPatchSchema
	waitlists            []api.WaitlistPatchSchema
	unsubscribeNewsletters,
	unsubscribeWaitlists bool
}

// unionRaw is implemented by the generated oneOf wrappers.
type unionRaw interface{ MarshalJSON() ([]byte, error) }

// decodeUnion returns true when the value is the given string literal, else
// binds it into dst with exact member names (as the validator saw it).
func decodeUnion(u unionRaw, literal string, dst any) (isLiteral bool, err error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return false, err
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte(`"`+literal+`"`)) {
		return true, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return false, err
	}
	return false, runtime.BindJSONValue(v, dst)
}

func preparePatch(b *api.ContactPatchSchema, rules contact.FieldRules) (*patch, error) {
	p := &patch{email: b.Email}
	var err error
	if b.Amo != nil {
		p.amo = new(api.AddOnsPatchSchema)
		if p.deleteAmo, err = decodeUnion(b.Amo, "DELETE", p.amo); err != nil {
			return nil, fmt.Errorf("patch amo: %w", err)
		}
	}
	if b.Fxa != nil {
		p.fxa = new(api.FirefoxAccountsPatchSchema)
		if p.deleteFxa, err = decodeUnion(b.Fxa, "DELETE", p.fxa); err != nil {
			return nil, fmt.Errorf("patch fxa: %w", err)
		}
	}
	if b.Mofo != nil {
		p.mofo = new(api.MozillaFoundationPatchSchema)
		if p.deleteMofo, err = decodeUnion(b.Mofo, "DELETE", p.mofo); err != nil {
			return nil, fmt.Errorf("patch mofo: %w", err)
		}
	}
	var problems []ValidationItem
	if b.Newsletters != nil {
		if p.unsubscribeNewsletters, err = decodeUnion(b.Newsletters, "UNSUBSCRIBE", &p.newsletters); err != nil {
			return nil, fmt.Errorf("patch newsletters: %w", err)
		}
		seen := map[string]bool{}
		for i := range p.newsletters {
			n := &p.newsletters[i]
			loc := []any{"body", "newsletters", i}
			if seen[n.Name] {
				problems = append(problems, duplicateName(loc, "newsletter", n.Name))
			}
			seen[n.Name] = true
			problems = append(problems, normaliseNullableSource(&n.Source, loc)...)
		}
	}
	if b.Waitlists != nil {
		if p.unsubscribeWaitlists, err = decodeUnion(b.Waitlists, "UNSUBSCRIBE", &p.waitlists); err != nil {
			return nil, fmt.Errorf("patch waitlists: %w", err)
		}
		// Binding went through a map: take the fields as sent (they are stored verbatim).
		if raw, err := b.Waitlists.MarshalJSON(); err == nil {
			if texts := itemFieldsText(raw); len(texts) == len(p.waitlists) {
				for i := range p.waitlists {
					if texts[i] != nil && p.waitlists[i].Fields != nil {
						p.waitlists[i].Fields = &texts[i]
					}
				}
			}
		}
		seen := map[string]bool{}
		var fieldProblems []ValidationItem
		for i := range p.waitlists {
			w := &p.waitlists[i]
			loc := []any{"body", "waitlists", i}
			if seen[w.Name] {
				problems = append(problems, duplicateName(loc, "waitlist", w.Name))
			}
			seen[w.Name] = true
			problems = append(problems, normaliseNullableSource(&w.Source, loc)...)
			if w.Fields != nil {
				// pydantic checks fields inside the list alternative of the union.
				tagged := []any{"body", "waitlists", waitlistsListTag, i}
				fieldProblems = append(fieldProblems, waitlistFieldProblems(tagged, w.Name, *w.Fields, rules)...)
			}
		}
		if len(fieldProblems) > 0 {
			problems = append(problems, fieldProblems...)
			problems = append(problems, unsubscribeLiteralError("waitlists", b.Waitlists))
		}
	}
	if len(problems) > 0 {
		return nil, invalid(problems...)
	}
	return p, nil
}

// waitlistsListTag is the union tag of the list alternative of PATCH waitlists.
const waitlistsListTag = "list[function-after[check_fields(), WaitlistBase]]"

// unsubscribeLiteralError is the error of the "UNSUBSCRIBE" alternative of a
// PATCH list, which pydantic lists after those of the list alternative.
func unsubscribeLiteralError(list string, u unionRaw) ValidationItem {
	var input any
	if raw, err := u.MarshalJSON(); err == nil {
		_ = json.Unmarshal(raw, &input)
	}
	return ValidationItem{Type: "literal_error", Loc: []any{"body", list, "literal['UNSUBSCRIBE']"},
		Msg: "Input should be 'UNSUBSCRIBE'", Input: input, Ctx: map[string]any{"expected": "'UNSUBSCRIBE'"}}
}

func normaliseNullableSource(src *nullable.Nullable[string], loc []any) []ValidationItem {
	v, err := src.Get()
	if err != nil { // absent or null
		return nil
	}
	norm, problems := normaliseSource(&v, loc)
	if norm != nil {
		src.Set(*norm)
	}
	return problems
}

// setN writes a nullable PATCH value when it was given (null clears the field).
func setN[T any](dst **T, v nullable.Nullable[T]) {
	if !v.IsSpecified() {
		return
	}
	if v.IsNull() {
		*dst = nil
		return
	}
	*dst = new(v.MustGet())
}

func setP[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// apply writes the keys present in the PATCH body onto c.
func (p *patch) apply(c *contact.Contact) error {
	if e := p.email; e != nil {
		setP(&c.Email.PrimaryEmail, e.PrimaryEmail)
		if v, err := e.BasketToken.Get(); err == nil {
			c.Email.BasketToken = &v
		} else if e.BasketToken.IsNull() {
			c.Email.BasketToken = nil
		}
		setP(&c.Email.DoubleOptIn, e.DoubleOptIn)
		setN(&c.Email.SfdcID, e.SfdcId)
		setN(&c.Email.FirstName, e.FirstName)
		setN(&c.Email.LastName, e.LastName)
		setN(&c.Email.MailingCountry, e.MailingCountry)
		if e.EmailFormat != nil {
			c.Email.EmailFormat = string(*e.EmailFormat)
		}
		setN(&c.Email.EmailLang, e.EmailLang)
		setP(&c.Email.HasOptedOutOfEmail, e.HasOptedOutOfEmail)
		setN(&c.Email.UnsubscribeReason, e.UnsubscribeReason)
	}

	switch {
	case p.deleteAmo:
		c.Amo = nil
	case p.amo != nil:
		a := contact.AddOns{}
		if c.Amo != nil {
			a = *c.Amo
		}
		in := p.amo
		setN(&a.AddOnIds, in.AddOnIds)
		setN(&a.DisplayName, in.DisplayName)
		setP(&a.EmailOptIn, in.EmailOptIn)
		setN(&a.Language, in.Language)
		if v, err := in.LastLogin.Get(); err == nil {
			a.LastLogin = new(v.Time)
		} else if in.LastLogin.IsNull() {
			a.LastLogin = nil
		}
		setN(&a.Location, in.Location)
		setN(&a.ProfileURL, in.ProfileUrl)
		setP(&a.User, in.User)
		setN(&a.UserID, in.UserId)
		setN(&a.Username, in.Username)
		c.Amo = &a
	}

	switch {
	case p.deleteFxa:
		c.Fxa = nil
	case p.fxa != nil:
		f := contact.FirefoxAccounts{}
		if c.Fxa != nil {
			f = *c.Fxa
		}
		in := p.fxa
		setN(&f.FxaID, in.FxaId)
		setN(&f.PrimaryEmail, in.PrimaryEmail)
		setN(&f.CreatedDate, in.CreatedDate)
		setN(&f.Lang, in.Lang)
		setN(&f.FirstService, in.FirstService)
		setP(&f.AccountDeleted, in.AccountDeleted)
		c.Fxa = &f
	}

	switch {
	case p.deleteMofo:
		c.Mofo = nil
	case p.mofo != nil:
		m := contact.MozillaFoundation{}
		if c.Mofo != nil {
			m = *c.Mofo
		}
		setN(&m.MofoEmailID, p.mofo.MofoEmailId)
		setN(&m.MofoContactID, p.mofo.MofoContactId)
		setP(&m.MofoRelevant, p.mofo.MofoRelevant)
		c.Mofo = &m
	}

	if p.unsubscribeNewsletters {
		for i := range c.Newsletters {
			c.Newsletters[i].Subscribed = false
		}
	}
	for _, in := range p.newsletters {
		n := findByName(c.Newsletters, func(n *contact.Newsletter) string { return n.Name }, in.Name)
		if n == nil {
			if in.Subscribed != nil && !*in.Subscribed {
				continue // unsubscribing from an unknown newsletter creates nothing
			}
			lang := contact.DefaultNewsletterLang
			c.Newsletters = append(c.Newsletters, contact.Newsletter{Name: in.Name, Subscribed: true,
				Format: contact.DefaultNewsletterFormat, Lang: &lang})
			n = &c.Newsletters[len(c.Newsletters)-1]
		}
		setP(&n.Subscribed, in.Subscribed)
		if in.Format != nil {
			n.Format = string(*in.Format)
		}
		setN(&n.Lang, in.Lang)
		setN(&n.Source, in.Source)
		setN(&n.UnsubReason, in.UnsubReason)
	}

	if p.unsubscribeWaitlists {
		for i := range c.Waitlists {
			c.Waitlists[i].Subscribed = false
		}
	}
	for _, in := range p.waitlists {
		w := findByName(c.Waitlists, func(w *contact.Waitlist) string { return w.Name }, in.Name)
		if w == nil {
			if in.Subscribed != nil && !*in.Subscribed {
				continue
			}
			c.Waitlists = append(c.Waitlists, contact.Waitlist{Name: in.Name, Subscribed: true, Fields: json.RawMessage("{}")})
			w = &c.Waitlists[len(c.Waitlists)-1]
		}
		setN(&w.Source, in.Source)
		if in.Fields != nil {
			w.Fields = *in.Fields // replaced wholesale, never merged
		}
		setP(&w.Subscribed, in.Subscribed)
		setN(&w.UnsubReason, in.UnsubReason)
	}
	return nil
}

func findByName[T any](items []T, name func(*T) string, want string) *T {
	for i := range items {
		if name(&items[i]) == want {
			return &items[i]
		}
	}
	return nil
}
