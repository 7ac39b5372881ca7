package contact_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
)

func stored() *contact.Contact {
	return &contact.Contact{
		Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "a@example.com", FirstName: new("Ada"),
			LastName: new("Lovelace"), EmailFormat: "H", EmailLang: new("fr")},
		Amo:  &contact.AddOns{Username: new("ada"), User: true},
		Fxa:  &contact.FirefoxAccounts{FxaID: new("f1")},
		Mofo: &contact.MozillaFoundation{MofoRelevant: true},
		Newsletters: []contact.Newsletter{
			{Name: "a", Subscribed: true, Format: "T", Lang: new("fr"), Source: new("https://a.example/"), UnsubReason: new("r")},
			{Name: "b", Subscribed: true, Format: "H", Lang: new("en")},
		},
		Waitlists: []contact.Waitlist{
			{Name: "vpn", Subscribed: true, Fields: json.RawMessage(`{"geo":"fr","platform":"ios"}`), Source: new("https://v.example/")},
		},
	}
}

func TestPatchApply(t *testing.T) {
	t.Parallel()
	f := false
	tests := []struct {
		name  string
		patch contact.Patch
		want  func(c *contact.Contact) // the expected change to stored()
	}{
		{"empty", contact.Patch{}, func(*contact.Contact) {}},
		{"email set, clear, leave", contact.Patch{Email: &contact.EmailPatch{
			FirstName: contact.Set("John"), LastName: contact.Clear[string](), EmailFormat: new("T"), DoubleOptIn: new(true),
		}}, func(c *contact.Contact) {
			c.Email.FirstName, c.Email.LastName, c.Email.EmailFormat, c.Email.DoubleOptIn = new("John"), nil, "T", true
		}},
		{"email_id is never written", contact.Patch{Email: &contact.EmailPatch{EmailID: new(uuid.New())}}, func(*contact.Contact) {}},
		{"group changed in place", contact.Patch{Amo: &contact.AddOnsPatch{DisplayName: contact.Set("A"), Username: contact.Clear[string]()}},
			func(c *contact.Contact) { c.Amo.DisplayName, c.Amo.Username = new("A"), nil }},
		{"groups deleted", contact.Patch{DeleteAmo: true, DeleteFxa: true, DeleteMofo: true},
			func(c *contact.Contact) { c.Amo, c.Fxa, c.Mofo = nil, nil, nil }},
		{"newsletter changed", contact.Patch{Newsletters: []contact.NewsletterPatch{{Name: "a", Lang: contact.Set("de"), Source: contact.Clear[string]()}}},
			func(c *contact.Contact) { c.Newsletters[0].Lang, c.Newsletters[0].Source = new("de"), nil }},
		{"newsletter created with the defaults", contact.Patch{Newsletters: []contact.NewsletterPatch{{Name: "c", Source: contact.Set("https://c.example/")}}},
			func(c *contact.Contact) {
				c.Newsletters = append(c.Newsletters, contact.Newsletter{Name: "c", Subscribed: true, Format: "H", Lang: new("en"), Source: new("https://c.example/")})
			}},
		{"unsubscribing an unknown newsletter creates nothing", contact.Patch{Newsletters: []contact.NewsletterPatch{{Name: "c", Subscribed: &f}}},
			func(*contact.Contact) {}},
		{"unsubscribing a known newsletter", contact.Patch{Newsletters: []contact.NewsletterPatch{{Name: "b", Subscribed: &f, UnsubReason: contact.Set("x")}}},
			func(c *contact.Contact) { c.Newsletters[1].Subscribed, c.Newsletters[1].UnsubReason = false, new("x") }},
		{"UNSUBSCRIBE newsletters", contact.Patch{UnsubscribeAllNewsletters: true},
			func(c *contact.Contact) { c.Newsletters[0].Subscribed, c.Newsletters[1].Subscribed = false, false }},
		{"waitlist fields replaced wholesale", contact.Patch{Waitlists: []contact.WaitlistPatch{{Name: "vpn", Fields: json.RawMessage(`{"geo":"de"}`)}}},
			func(c *contact.Contact) { c.Waitlists[0].Fields = json.RawMessage(`{"geo":"de"}`) }},
		{"waitlist fields left alone", contact.Patch{Waitlists: []contact.WaitlistPatch{{Name: "vpn", Subscribed: &f}}},
			func(c *contact.Contact) { c.Waitlists[0].Subscribed = false }},
		{"waitlist created with the defaults", contact.Patch{Waitlists: []contact.WaitlistPatch{{Name: "relay"}}},
			func(c *contact.Contact) {
				c.Waitlists = append(c.Waitlists, contact.Waitlist{Name: "relay", Subscribed: true, Fields: json.RawMessage(`{}`)})
			}},
		{"unsubscribing an unknown waitlist creates nothing", contact.Patch{Waitlists: []contact.WaitlistPatch{{Name: "relay", Subscribed: &f}}},
			func(*contact.Contact) {}},
		{"UNSUBSCRIBE waitlists", contact.Patch{UnsubscribeAllWaitlists: true},
			func(c *contact.Contact) { c.Waitlists[0].Subscribed = false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := stored()
			got, want := before.Clone(), before.Clone()
			tt.patch.Apply(got)
			tt.want(want)
			require.Equal(t, want, got)
			require.Equal(t, stored().Newsletters, before.Newsletters, "the original is untouched")
		})
	}
}

func TestPatchApplyCreatesGroups(t *testing.T) {
	t.Parallel()
	c := &contact.Contact{}
	day := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
	(&contact.Patch{
		Amo:  &contact.AddOnsPatch{LastLogin: contact.Set(day)},
		Fxa:  &contact.FirefoxAccountsPatch{AccountDeleted: new(true)},
		Mofo: &contact.MozillaFoundationPatch{MofoEmailID: contact.Set("m")},
	}).Apply(c)
	require.Equal(t, &contact.AddOns{LastLogin: &day}, c.Amo)
	require.Equal(t, &contact.FirefoxAccounts{AccountDeleted: true}, c.Fxa)
	require.Equal(t, &contact.MozillaFoundation{MofoEmailID: new("m")}, c.Mofo)
}

func TestPatchChangesEmailID(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	require.False(t, (&contact.Patch{}).ChangesEmailID(id))
	require.False(t, (&contact.Patch{Email: &contact.EmailPatch{}}).ChangesEmailID(id), "absent or null")
	require.False(t, (&contact.Patch{Email: &contact.EmailPatch{EmailID: &id}}).ChangesEmailID(id), "its own")
	require.True(t, (&contact.Patch{Email: &contact.EmailPatch{EmailID: new(uuid.New())}}).ChangesEmailID(id))
}

func TestNew(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	f := false

	minimal := contact.New(id, &contact.Patch{Email: &contact.EmailPatch{PrimaryEmail: new("a@example.com")}})
	require.Equal(t, &contact.Contact{Email: contact.Email{EmailID: id, PrimaryEmail: "a@example.com",
		EmailFormat: "H", EmailLang: new("en")}}, minimal, "the input defaults")

	full := contact.New(id, &contact.Patch{
		Email: &contact.EmailPatch{PrimaryEmail: new("a@example.com"), EmailLang: contact.Clear[string](), EmailFormat: new("T")},
		Amo:   &contact.AddOnsPatch{},
		Newsletters: []contact.NewsletterPatch{
			{Name: "a", Subscribed: &f, Lang: contact.Clear[string]()},
			{Name: "b", Format: new("T")},
		},
		Waitlists: []contact.WaitlistPatch{{Name: "w", Subscribed: &f}, {Name: "v", Fields: json.RawMessage(`{"geo":"fr"}`)}},
	})
	require.Nil(t, full.Email.EmailLang, "null stays null")
	require.Equal(t, "T", full.Email.EmailFormat)
	require.Equal(t, &contact.AddOns{}, full.Amo, "a group given empty is a default group")
	require.Nil(t, full.Fxa)
	require.Equal(t, []contact.Newsletter{
		{Name: "a", Subscribed: false, Format: "H"},
		{Name: "b", Subscribed: true, Format: "T", Lang: new("en")},
	}, full.Newsletters, "every item is created, in order, even unsubscribed")
	require.Equal(t, []contact.Waitlist{
		{Name: "w", Subscribed: false, Fields: json.RawMessage(`{}`)},
		{Name: "v", Subscribed: true, Fields: json.RawMessage(`{"geo":"fr"}`)},
	}, full.Waitlists)
}
