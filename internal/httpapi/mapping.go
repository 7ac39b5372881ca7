package httpapi

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

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
