package httpapi

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
)

// pyTimestamp renders a time as Python's isoformat() does in the Python CTMS:
// microseconds only when non-zero, and a numeric UTC offset ("+00:00").
func pyTimestamp(t time.Time) string {
	return pyISO(t.UTC(), "+00:00")
}

// pyISO formats t with the given text for a UTC offset ("+00:00" or "Z").
func pyISO(t time.Time, utcSuffix string) string {
	var buf [48]byte // on the stack: the string is the only allocation
	b := t.AppendFormat(buf[:0], "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.', '0', '0', '0', '0', '0', '0')
		for i := len(b) - 1; us > 0; i, us = i-1, us/10 {
			b[i] = byte('0' + us%10)
		}
	}
	if _, off := t.Zone(); off == 0 {
		return string(append(b, utcSuffix...))
	}
	return string(t.AppendFormat(b, "-07:00"))
}

func optTimestamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	return new(pyTimestamp(*t))
}

// contactResponse maps a contact to the response object; missing groups render
// as their defaults.
func contactResponse(c *contact.Contact) api.CTMSResponse {
	r := api.CTMSResponse{
		Email: api.EmailSchema{
			PrimaryEmail:       c.Email.PrimaryEmail,
			BasketToken:        c.Email.BasketToken,
			DoubleOptIn:        c.Email.DoubleOptIn,
			SfdcId:             c.Email.SfdcID,
			FirstName:          c.Email.FirstName,
			LastName:           c.Email.LastName,
			MailingCountry:     c.Email.MailingCountry,
			EmailFormat:        api.EmailSchemaEmailFormat(c.Email.EmailFormat),
			EmailLang:          c.Email.EmailLang,
			HasOptedOutOfEmail: c.Email.HasOptedOutOfEmail,
			UnsubscribeReason:  c.Email.UnsubscribeReason,
			EmailId:            c.Email.EmailID,
			CreateTimestamp:    pyTimestamp(c.Email.CreateTimestamp),
			UpdateTimestamp:    pyTimestamp(c.Email.UpdateTimestamp),
		},
		Newsletters: make([]api.NewsletterTimestampedSchema, len(c.Newsletters)),
		Waitlists:   make([]api.WaitlistTimestampedSchema, len(c.Waitlists)),
	}
	if a := c.Amo; a != nil {
		r.Amo = api.AddOnsSchema{
			AddOnIds: a.AddOnIds, DisplayName: a.DisplayName, EmailOptIn: a.EmailOptIn, Language: a.Language,
			Location: a.Location, ProfileUrl: a.ProfileURL, User: a.User, UserId: a.UserID, Username: a.Username,
			CreateTimestamp: optTimestamp(a.CreateTimestamp), UpdateTimestamp: optTimestamp(a.UpdateTimestamp),
		}
		if a.LastLogin != nil {
			r.Amo.LastLogin = new(a.LastLogin.Format(time.DateOnly))
		}
	}
	if f := c.Fxa; f != nil {
		r.Fxa = api.FirefoxAccountsSchema{
			FxaId: f.FxaID, PrimaryEmail: f.PrimaryEmail, CreatedDate: f.CreatedDate, Lang: f.Lang,
			FirstService: f.FirstService, AccountDeleted: f.AccountDeleted,
		}
	}
	if m := c.Mofo; m != nil {
		r.Mofo = api.MozillaFoundationSchema{MofoEmailId: m.MofoEmailID, MofoContactId: m.MofoContactID, MofoRelevant: m.MofoRelevant}
	}
	for i, n := range c.Newsletters {
		r.Newsletters[i] = api.NewsletterTimestampedSchema{
			Name: n.Name, Subscribed: n.Subscribed, Format: api.NewsletterTimestampedSchemaFormat(n.Format),
			Lang: n.Lang, Source: n.Source, UnsubReason: n.UnsubReason,
			CreateTimestamp: pyTimestamp(n.CreateTimestamp), UpdateTimestamp: pyTimestamp(n.UpdateTimestamp),
		}
	}
	for i, w := range c.Waitlists {
		r.Waitlists[i] = api.WaitlistTimestampedSchema{
			Name: w.Name, Source: w.Source, Fields: orEmptyObject(w.Fields), Subscribed: w.Subscribed,
			UnsubReason:     w.UnsubReason,
			CreateTimestamp: pyTimestamp(w.CreateTimestamp), UpdateTimestamp: pyTimestamp(w.UpdateTimestamp),
		}
	}
	r.VpnWaitlist.Geo, r.VpnWaitlist.Platform = c.VPNWaitlist()
	r.RelayWaitlist.Geo = c.RelayWaitlistGeo()
	return r
}

func identityResponse(i *contact.Identity) api.IdentityResponse {
	r := api.IdentityResponse{
		EmailId: i.EmailID, PrimaryEmail: i.PrimaryEmail, SfdcId: i.SfdcID,
		MofoContactId: i.MofoContactID, MofoEmailId: i.MofoEmailID, AmoUserId: i.AmoUserID,
		FxaId: i.FxaID, FxaPrimaryEmail: i.FxaPrimaryEmail,
	}
	if i.BasketToken != nil {
		if t, err := uuid.Parse(*i.BasketToken); err == nil {
			r.BasketToken = &t
		}
	}
	return r
}

// orEmptyObject is a waitlist's fields for the response: "{}" when none were
// read. The stored text is written as it is: the JSON encoder compacts it.
func orEmptyObject(fields json.RawMessage) json.RawMessage {
	if len(fields) == 0 {
		return json.RawMessage("{}")
	}
	return fields
}

// postInput maps a POST body to the domain input (contact.New makes the contact).
func postInput(b *api.ContactInSchema) *contact.Patch {
	e := &b.Email
	return contactInput(&contact.EmailPatch{
		PrimaryEmail: &e.PrimaryEmail, BasketToken: given(e.BasketToken), DoubleOptIn: e.DoubleOptIn,
		SfdcID: given(e.SfdcId), FirstName: given(e.FirstName), LastName: given(e.LastName),
		MailingCountry: given(e.MailingCountry), EmailFormat: (*string)(e.EmailFormat), EmailLang: change(e.EmailLang),
		HasOptedOutOfEmail: e.HasOptedOutOfEmail, UnsubscribeReason: given(e.UnsubscribeReason),
	}, b.Amo, b.Fxa, b.Mofo, b.Newsletters, b.Waitlists)
}

// putInput maps a PUT body to the domain input (contact.New makes the contact).
func putInput(b *api.ContactPutSchema) *contact.Patch {
	e := &b.Email
	return contactInput(&contact.EmailPatch{
		PrimaryEmail: &e.PrimaryEmail, BasketToken: given(e.BasketToken), DoubleOptIn: e.DoubleOptIn,
		SfdcID: given(e.SfdcId), FirstName: given(e.FirstName), LastName: given(e.LastName),
		MailingCountry: given(e.MailingCountry), EmailFormat: (*string)(e.EmailFormat), EmailLang: change(e.EmailLang),
		HasOptedOutOfEmail: e.HasOptedOutOfEmail, UnsubscribeReason: given(e.UnsubscribeReason),
	}, b.Amo, b.Fxa, b.Mofo, b.Newsletters, b.Waitlists)
}

// contactInput maps the parts POST and PUT bodies share.
func contactInput(email *contact.EmailPatch, amo *api.AddOnsInSchema, fxa *api.FirefoxAccountsInSchema,
	mofo *api.MozillaFoundationInSchema, newsletters *[]api.NewsletterInSchema, waitlists *[]api.WaitlistInSchema,
) *contact.Patch {
	in := &contact.Patch{Email: email}
	if amo != nil {
		in.Amo = &contact.AddOnsPatch{
			AddOnIds: given(amo.AddOnIds), DisplayName: given(amo.DisplayName), EmailOptIn: amo.EmailOptIn,
			Language: given(amo.Language), Location: given(amo.Location), ProfileURL: given(amo.ProfileUrl),
			User: amo.User, UserID: given(amo.UserId), Username: given(amo.Username),
		}
		if amo.LastLogin != nil {
			in.Amo.LastLogin = contact.Set(amo.LastLogin.Time)
		}
	}
	if fxa != nil {
		in.Fxa = &contact.FirefoxAccountsPatch{
			FxaID: given(fxa.FxaId), PrimaryEmail: given(fxa.PrimaryEmail), CreatedDate: given(fxa.CreatedDate),
			Lang: given(fxa.Lang), FirstService: given(fxa.FirstService), AccountDeleted: fxa.AccountDeleted,
		}
	}
	if mofo != nil {
		in.Mofo = &contact.MozillaFoundationPatch{
			MofoEmailID: given(mofo.MofoEmailId), MofoContactID: given(mofo.MofoContactId), MofoRelevant: mofo.MofoRelevant,
		}
	}
	if newsletters != nil {
		in.Newsletters = make([]contact.NewsletterPatch, len(*newsletters))
		for i := range *newsletters {
			n := &(*newsletters)[i]
			in.Newsletters[i] = contact.NewsletterPatch{Name: n.Name, Subscribed: n.Subscribed, Format: (*string)(n.Format),
				Lang: change(n.Lang), Source: given(n.Source), UnsubReason: given(n.UnsubReason)}
		}
	}
	if waitlists != nil {
		in.Waitlists = make([]contact.WaitlistPatch, len(*waitlists))
		for i := range *waitlists {
			w := &(*waitlists)[i]
			in.Waitlists[i] = contact.WaitlistPatch{Name: w.Name, Source: given(w.Source), Subscribed: w.Subscribed,
				UnsubReason: given(w.UnsubReason)}
			if w.Fields != nil {
				in.Waitlists[i].Fields = *w.Fields
			}
		}
	}
	return in
}

// problemItems are the 422 entries of the problems of a POST or PUT body.
func problemItems(problems []contact.Problem) []ValidationItem {
	items := make([]ValidationItem, len(problems))
	for i := range problems {
		items[i] = problemItem(&problems[i], []any{"body", problems[i].List, problems[i].Index})
	}
	return items
}

// problemItem is the FastAPI detail entry of a problem of the item at loc.
func problemItem(p *contact.Problem, loc []any) ValidationItem {
	switch p.Kind {
	case contact.DuplicateName:
		return ValidationItem{Type: "value_error", Loc: append(loc, "name"),
			Msg: "Value error, " + p.Msg + " in this request", Input: p.Input, Ctx: map[string]any{"error": p.Msg}}
	case contact.InvalidSource:
		return ValidationItem{Type: "url_parsing", Loc: append(loc, "source"),
			Msg: "Input should be a valid URL, " + p.Msg, Input: p.Input, Ctx: map[string]any{"error": p.Msg}}
	}
	// A waitlist field rule: as in pydantic, the location omits "fields" when a member is wrong.
	field := p.Field
	if field == "" {
		field = "fields"
	}
	return ValidationItem{Type: p.Rule.Type, Loc: append(loc, field), Msg: p.Rule.Msg, Input: p.Rule.Input, Ctx: p.Rule.Ctx}
}

// change is a nullable input value: not given when absent, cleared when null.
func change[T any](v nullable.Nullable[T]) contact.Change[T] {
	if x, err := v.Get(); err == nil {
		return contact.Set(x)
	}
	return contact.Change[T]{Given: v.IsNull()}
}

// given is an optional input value (nil: absent or null).
func given[T any](v *T) contact.Change[T] {
	return contact.Change[T]{Given: v != nil, To: v}
}
