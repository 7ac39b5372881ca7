package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

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
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		s := strconv.Itoa(us)
		for i := len(s); i < 6; i++ {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	_, off := t.Zone()
	if off == 0 {
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
			Name: w.Name, Source: w.Source, Fields: compactJSON(w.Fields), Subscribed: w.Subscribed,
			UnsubReason:     w.UnsubReason,
			CreateTimestamp: pyTimestamp(w.CreateTimestamp), UpdateTimestamp: pyTimestamp(w.UpdateTimestamp),
		}
	}
	r.VpnWaitlist.Geo, r.VpnWaitlist.Platform = c.VPNWaitlist()
	r.RelayWaitlist.Geo = c.RelayWaitlistGeo()
	return r
}

// singleResponse is the contact object plus "status": "ok".
func singleResponse(c *contact.Contact) api.CTMSSingleResponse {
	r := contactResponse(c)
	return api.CTMSSingleResponse{
		Amo: r.Amo, Email: r.Email, Fxa: r.Fxa, Mofo: r.Mofo, Newsletters: r.Newsletters,
		Waitlists: r.Waitlists, VpnWaitlist: r.VpnWaitlist, RelayWaitlist: r.RelayWaitlist, Status: api.Ok,
	}
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

// compactJSON re-serialises stored waitlist fields compactly, keeping key order
// (the column is json, stored verbatim, maybe with spaces).
func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return json.RawMessage("{}")
	}
	return buf.Bytes()
}

// inputContact maps a POST/PUT body to a contact, applying the input defaults,
// normalising source URLs and checking what the schema cannot express
// (waitlist fields, duplicate names). Problems come back as 422 entries.
func inputContact(id uuid.UUID, e emailInput, amo *api.AddOnsInSchema, fxa *api.FirefoxAccountsInSchema,
	mofo *api.MozillaFoundationInSchema, newsletters *[]api.NewsletterInSchema, waitlists *[]api.WaitlistInSchema,
	rules contact.FieldRules,
) (*contact.Contact, []ValidationItem) {
	c := &contact.Contact{Email: contact.Email{
		EmailID:            id,
		PrimaryEmail:       e.PrimaryEmail,
		BasketToken:        e.BasketToken,
		DoubleOptIn:        deref(e.DoubleOptIn, false),
		SfdcID:             e.SfdcId,
		FirstName:          e.FirstName,
		LastName:           e.LastName,
		MailingCountry:     e.MailingCountry,
		EmailFormat:        deref(e.EmailFormat, contact.DefaultEmailFormat),
		EmailLang:          orDefault(e.EmailLang, contact.DefaultEmailLang),
		HasOptedOutOfEmail: deref(e.HasOptedOutOfEmail, false),
		UnsubscribeReason:  e.UnsubscribeReason,
	}}
	if amo != nil {
		c.Amo = &contact.AddOns{
			AddOnIds: amo.AddOnIds, DisplayName: amo.DisplayName, EmailOptIn: deref(amo.EmailOptIn, false),
			Language: amo.Language, LastLogin: dateTime(amo.LastLogin), Location: amo.Location,
			ProfileURL: amo.ProfileUrl, User: deref(amo.User, false), UserID: amo.UserId, Username: amo.Username,
		}
	}
	if fxa != nil {
		c.Fxa = &contact.FirefoxAccounts{
			FxaID: fxa.FxaId, PrimaryEmail: fxa.PrimaryEmail, CreatedDate: fxa.CreatedDate, Lang: fxa.Lang,
			FirstService: fxa.FirstService, AccountDeleted: deref(fxa.AccountDeleted, false),
		}
	}
	if mofo != nil {
		c.Mofo = &contact.MozillaFoundation{
			MofoEmailID: mofo.MofoEmailId, MofoContactID: mofo.MofoContactId, MofoRelevant: deref(mofo.MofoRelevant, false),
		}
	}
	var problems []ValidationItem
	if newsletters != nil {
		seen := map[string]bool{}
		for i, n := range *newsletters {
			loc := []any{"body", "newsletters", i}
			if seen[n.Name] {
				problems = append(problems, duplicateName(loc, "newsletter", n.Name))
			}
			seen[n.Name] = true
			source, bad := normaliseSource(n.Source, loc)
			problems = append(problems, bad...)
			c.Newsletters = append(c.Newsletters, contact.Newsletter{
				Name: n.Name, Subscribed: deref(n.Subscribed, true), Format: string(deref(n.Format, contact.DefaultNewsletterFormat)),
				Lang: orDefault(n.Lang, contact.DefaultNewsletterLang), Source: source, UnsubReason: n.UnsubReason,
			})
		}
	}
	if waitlists != nil {
		seen := map[string]bool{}
		for i, w := range *waitlists {
			loc := []any{"body", "waitlists", i}
			if seen[w.Name] {
				problems = append(problems, duplicateName(loc, "waitlist", w.Name))
			}
			seen[w.Name] = true
			source, bad := normaliseSource(w.Source, loc)
			problems = append(problems, bad...)
			fields := json.RawMessage("{}")
			if w.Fields != nil {
				fields = *w.Fields
			}
			problems = append(problems, waitlistFieldProblems(loc, w.Name, fields, rules)...)
			c.Waitlists = append(c.Waitlists, contact.Waitlist{
				Name: w.Name, Source: source, Fields: fields, Subscribed: deref(w.Subscribed, true), UnsubReason: w.UnsubReason,
			})
		}
	}
	return c, problems
}

// emailInput is the common part of the POST and PUT email objects.
type emailInput struct {
	PrimaryEmail       string
	BasketToken        *openapi_types.UUID
	DoubleOptIn        *bool
	SfdcId             *string
	FirstName          *string
	LastName           *string
	MailingCountry     *string
	EmailFormat        *string
	EmailLang          nullable.Nullable[string]
	HasOptedOutOfEmail *bool
	UnsubscribeReason  *string
}

func duplicateName(loc []any, kind, name string) ValidationItem {
	return ValidationItem{Type: "value_error", Loc: append(append([]any(nil), loc...), "name"),
		Msg: "Value error, duplicate " + kind + " name in this request", Input: name,
		Ctx: map[string]any{"error": "duplicate " + kind + " name"}}
}

// orDefault is a nullable input value: def when absent, nil when null.
func orDefault[T any](v nullable.Nullable[T], def T) *T {
	switch {
	case !v.IsSpecified():
		return &def
	case v.IsNull():
		return nil
	}
	return new(v.MustGet())
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func dateTime(d *openapi_types.Date) *time.Time {
	if d == nil {
		return nil
	}
	return new(d.Time)
}
