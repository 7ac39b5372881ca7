package store

import (
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

// contactRow is a row of the whole-contact queries of sql/queries/contacts.sql
// (ContactGet, ContactsGetByIDs, UpdatesFirstPage, UpdatesNextPage): they select
// the same columns, so sqlc's row types convert to it.
type contactRow db.ContactsGetByIDsRow

// contactsFromRows maps the rows of a whole-contact query to contacts, in order.
func contactsFromRows[R db.ContactGetRow | db.UpdatesFirstPageRow | db.UpdatesNextPageRow](rows []R) ([]contact.Contact, error) {
	out := make([]contact.Contact, len(rows))
	for i := range rows {
		row := contactRow(rows[i])
		var err error
		if out[i], err = contactFromRow(&row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contactFromRow maps a whole-contact row to a contact. NULLs in columns the
// API treats as required read as the field's default (docs/migrating-from-python.md) rather than
// failing the read.
func contactFromRow(r *contactRow) (contact.Contact, error) {
	c := contact.Contact{
		Email: contact.Email{
			EmailID:            r.EmailID,
			PrimaryEmail:       r.PrimaryEmail,
			DoubleOptIn:        orFalse(r.DoubleOptIn),
			SfdcID:             r.SfdcID,
			FirstName:          r.FirstName,
			LastName:           r.LastName,
			MailingCountry:     r.MailingCountry,
			EmailFormat:        orDefault(r.EmailFormat, contact.DefaultEmailFormat),
			EmailLang:          r.EmailLang,
			HasOptedOutOfEmail: orFalse(r.HasOptedOutOfEmail),
			UnsubscribeReason:  r.UnsubscribeReason,
			CreateTimestamp:    r.CreateTimestamp.UTC(),
			UpdateTimestamp:    r.UpdateTimestamp.UTC(),
		},
	}
	if r.BasketToken != nil {
		// Stored as text; a value that is not a UUID (written by other tools) is not shown.
		if t, err := uuid.Parse(*r.BasketToken); err == nil {
			c.Email.BasketToken = &t
		}
	}
	if r.AmoRowID != nil {
		c.Amo = &contact.AddOns{
			AddOnIds: r.AmoAddOnIds, DisplayName: r.AmoDisplayName, EmailOptIn: orFalse(r.AmoEmailOptIn),
			Language: r.AmoLanguage, LastLogin: r.AmoLastLogin, Location: r.AmoLocation,
			ProfileURL: r.AmoProfileUrl, User: orFalse(r.AmoUser), UserID: r.AmoUserID, Username: r.AmoUsername,
			CreateTimestamp: utc(r.AmoCreateTimestamp), UpdateTimestamp: utc(r.AmoUpdateTimestamp),
		}
	}
	if r.FxaRowID != nil {
		c.Fxa = &contact.FirefoxAccounts{
			FxaID: r.FxaFxaID, PrimaryEmail: r.FxaPrimaryEmail, CreatedDate: r.FxaCreatedDate,
			Lang: r.FxaLang, FirstService: r.FxaFirstService, AccountDeleted: orFalse(r.FxaAccountDeleted),
		}
	}
	if r.MofoRowID != nil {
		c.Mofo = &contact.MozillaFoundation{
			MofoEmailID: r.MofoMofoEmailID, MofoContactID: r.MofoMofoContactID, MofoRelevant: orFalse(r.MofoMofoRelevant),
		}
	}

	var err error
	if c.Newsletters, err = decodeNewsletters(r.Newsletters); err != nil {
		return c, err
	}
	c.Waitlists, err = decodeWaitlists(r.Waitlists)
	return c, err
}

func orFalse(b *bool) bool { return b != nil && *b }

func orDefault(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return new(t.UTC())
}
