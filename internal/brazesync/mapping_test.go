package brazesync

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/contact"
)

func sp(s string) *string { return &s }

var (
	groupFirefox = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	groupVPN     = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	testMapping  = Mapping{
		"mozilla-and-you":       {ID: groupFirefox, Title: "Firefox News"},
		"guardian-vpn-waitlist": {ID: groupVPN, Title: "guardian-vpn-waitlist"},
	}
	created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pushAt  = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
)

func sample() *contact.Contact {
	token := uuid.MustParse("c4a7d759-bb52-457b-896b-90f1d3ef8433")
	return &contact.Contact{
		Email: contact.Email{
			EmailID: uuid.MustParse("332de237-cab7-4461-bcc3-48e68f42bd5c"), PrimaryEmail: "ctms-user@example.com",
			BasketToken: &token, FirstName: sp("Jane"), LastName: sp("Doe"), MailingCountry: sp("us"),
			EmailLang: sp("en"), EmailFormat: "H", CreateTimestamp: created, UpdateTimestamp: created.Add(time.Hour),
		},
		Fxa: &contact.FirefoxAccounts{FxaID: sp("6eb6ed6a"), PrimaryEmail: sp("fxa@example.com"),
			CreatedDate: sp("2021-01-29T18:43:49.082375+00:00"), Lang: sp("en,en-US"), FirstService: sp("sync")},
		Newsletters: []contact.Newsletter{
			{Name: "mozilla-and-you", Subscribed: true}, {Name: "unmapped-news", Subscribed: true},
		},
		Waitlists: []contact.Waitlist{{Name: "vpn", Subscribed: true}},
	}
}

// js is v as JSON decodes it, for comparing what is sent.
func js(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMapFirstPush: the user attributes object of a profile's first push, field by
// field as docs/operations.md lists the mapping.
func TestMapFirstPush(t *testing.T) {
	c := sample()
	p := Map(c, nil, testMapping, false, pushAt)
	want := map[string]any{
		"external_id":     "332de237-cab7-4461-bcc3-48e68f42bd5c",
		"email":           "ctms-user@example.com",
		"email_subscribe": "subscribed",
		"subscription_groups": []any{
			map[string]any{"subscription_group_id": groupFirefox.String(), "subscription_state": "subscribed"},
			map[string]any{"subscription_group_id": groupVPN.String(), "subscription_state": "subscribed"},
		},
		"user_attributes_v1": []any{map[string]any{
			"basket_token":      "c4a7d759-bb52-457b-896b-90f1d3ef8433",
			"created_at":        map[string]any{"$time": "2026-01-02T03:04:05.000000Z"},
			"updated_at":        map[string]any{"$time": "2026-01-02T04:04:05.000000Z"},
			"email_lang":        "en",
			"mailing_country":   "us",
			"has_fxa":           true,
			"fxa_created_at":    map[string]any{"$time": "2021-01-29T18:43:49.082375+00:00"},
			"fxa_first_service": "sync",
			"fxa_lang":          "en,en-US",
			"fxa_primary_email": "fxa@example.com",
			"fxa_deleted":       false,
			"unsub_reason":      nil,
		}},
		"country": "us", "language": "en", "first_name": "Jane", "last_name": "Doe",
		"_update_existing_only": false,
		"update_timestamp":      "2026-02-01T00:00:00.000000Z",
	}
	if got := js(t, p.Attributes); !reflect.DeepEqual(got, js(t, want)) {
		t.Errorf("attributes\n got %v\nwant %v", got, js(t, want))
	}
	// One subscribe event per subscribed mapped newsletter (the waitlist under its slug).
	wantEvents := []any{
		map[string]any{"external_id": "332de237-cab7-4461-bcc3-48e68f42bd5c", "name": "guardian-vpn-waitlist - subscribe", "time": "2026-01-02T04:04:05.000000Z"},
		map[string]any{"external_id": "332de237-cab7-4461-bcc3-48e68f42bd5c", "name": "Firefox News - subscribe", "time": "2026-01-02T04:04:05.000000Z"},
	}
	if got := js(t, p.Events); !reflect.DeepEqual(got, wantEvents) {
		t.Errorf("events\n got %v\nwant %v", got, wantEvents)
	}
}

func TestMapEmailSubscribe(t *testing.T) {
	for _, tc := range []struct {
		optedOut, doubleOptIn bool
		want                  string
	}{{false, false, "subscribed"}, {false, true, "opted_in"}, {true, true, "unsubscribed"}, {true, false, "unsubscribed"}} {
		c := sample()
		c.Email.HasOptedOutOfEmail, c.Email.DoubleOptIn = tc.optedOut, tc.doubleOptIn
		if got := Map(c, nil, testMapping, false, pushAt).Attributes["email_subscribe"]; got != tc.want {
			t.Errorf("opted out %v, double opt-in %v: %v, want %s", tc.optedOut, tc.doubleOptIn, got, tc.want)
		}
	}
}

func TestWaitlistSlug(t *testing.T) {
	for in, want := range map[string]string{"vpn": "guardian-vpn-waitlist", "relay": "relay-waitlist", "vpn-beta": "vpn-beta-waitlist"} {
		if got := WaitlistSlug(in); got != want {
			t.Errorf("WaitlistSlug(%q) = %q, want %q", in, got, want)
		}
	}
}

// pushed is the state a first push of c records (what the next push compares with).
func pushed(t *testing.T, c *contact.Contact, m Mapping) *State {
	t.Helper()
	s := Map(c, nil, m, false, pushAt).State
	var back State // as stored in jsonb and read back
	if err := json.Unmarshal(js2(t, s), &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

func js2(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMapChanges: after a first push, only what changed: billable fields only when
// changed, events only for the newsletters whose state changed, _update_existing_only.
func TestMapChanges(t *testing.T) {
	billable := []string{"country", "language", "first_name", "last_name"}
	for _, tc := range []struct {
		name       string
		change     func(c *contact.Contact)
		nothing    bool           // no push at all
		billable   map[string]any // billable fields sent
		eventNames []string
	}{
		{name: "no change", change: func(*contact.Contact) {}, nothing: true},
		{name: "unmapped newsletter change: no event", change: func(c *contact.Contact) {
			c.Newsletters[1].Subscribed = false
		}, billable: map[string]any{}},
		{name: "other attribute", change: func(c *contact.Contact) {
			c.Email.UnsubscribeReason = sp("too many")
		}, billable: map[string]any{}},
		{name: "first name", change: func(c *contact.Contact) { c.Email.FirstName = sp("Janet") },
			billable: map[string]any{"first_name": "Janet"}},
		{name: "country cleared", change: func(c *contact.Contact) { c.Email.MailingCountry = nil },
			billable: map[string]any{"country": nil}},
		{name: "unsubscribed", change: func(c *contact.Contact) { c.Newsletters[0].Subscribed = false },
			billable: map[string]any{}, eventNames: []string{"Firefox News - unsubscribe"}},
		{name: "newsletter removed", change: func(c *contact.Contact) { c.Newsletters = c.Newsletters[1:] },
			billable: map[string]any{}, eventNames: []string{"Firefox News - unsubscribe"}},
		{name: "waitlist left", change: func(c *contact.Contact) { c.Waitlists[0].Subscribed = false },
			billable: map[string]any{}, eventNames: []string{"guardian-vpn-waitlist - unsubscribe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample()
			last := pushed(t, c, testMapping)
			tc.change(c)
			p := Map(c, last, testMapping, false, pushAt)
			if tc.nothing {
				if p.Attributes != nil || len(p.Events) > 0 {
					t.Fatalf("pushes %v %v, want nothing", p.Attributes, p.Events)
				}
				return
			}
			if p.Attributes == nil {
				t.Fatal("nothing pushed")
			}
			if p.Attributes["_update_existing_only"] != true {
				t.Error("_update_existing_only is not true after the first push")
			}
			got := map[string]any{}
			for _, f := range billable {
				if v, ok := p.Attributes[f]; ok {
					got[f] = js(t, v)
				}
			}
			if !reflect.DeepEqual(got, tc.billable) {
				t.Errorf("billable fields sent %v, want %v", got, tc.billable)
			}
			var names []string
			for _, e := range p.Events {
				names = append(names, e["name"].(string))
			}
			if !reflect.DeepEqual(names, tc.eventNames) {
				t.Errorf("events %v, want %v", names, tc.eventNames)
			}
		})
	}
}

// TestMapRemovedNewsletterStaysUnsubscribed: a removed mapped newsletter is sent as
// unsubscribed, and the next push with nothing new sends nothing.
func TestMapRemovedNewsletterStaysUnsubscribed(t *testing.T) {
	c := sample()
	last := pushed(t, c, testMapping)
	c.Newsletters = c.Newsletters[1:]
	p := Map(c, last, testMapping, false, pushAt)
	want := js(t, []GroupState{{groupFirefox.String(), "unsubscribed"}, {groupVPN.String(), "subscribed"}})
	if got := js(t, p.Attributes["subscription_groups"]); !reflect.DeepEqual(got, want) {
		t.Errorf("subscription_groups %v, want %v", got, want)
	}
	var back State
	_ = json.Unmarshal(js2(t, p.State), &back)
	if again := Map(c, &back, testMapping, false, pushAt); again.Attributes != nil {
		t.Errorf("a second push of the same state sends %v", again.Attributes)
	}
}

// TestMapNewMappingNoEvent: mapping a newsletter the contact was already subscribed to
// sends its group with the next push, but no subscribe event.
func TestMapNewMappingNoEvent(t *testing.T) {
	c := sample()
	last := pushed(t, c, testMapping)
	m := Mapping{"unmapped-news": {ID: uuid.MustParse("33333333-3333-4333-8333-333333333333"), Title: "Unmapped"}}
	for k, v := range testMapping {
		m[k] = v
	}
	p := Map(c, last, m, false, pushAt)
	if p.Attributes == nil || len(p.Attributes["subscription_groups"].([]GroupState)) != 3 {
		t.Fatalf("the new group is not sent: %v", p.Attributes)
	}
	if len(p.Events) != 0 {
		t.Errorf("events %v, want none", p.Events)
	}
}

// TestMapFull: a resync sends every attribute (billable ones included) even when
// unchanged, and creates the profile if it is missing.
func TestMapFull(t *testing.T) {
	c := sample()
	c.Email.LastName = nil
	last := pushed(t, c, testMapping)
	p := Map(c, last, testMapping, true, pushAt)
	if p.Attributes == nil || len(p.Events) != 0 {
		t.Fatalf("attributes %v events %v", p.Attributes, p.Events)
	}
	for _, f := range []string{"country", "language", "first_name", "last_name"} {
		if _, ok := p.Attributes[f]; !ok {
			t.Errorf("%s not sent", f)
		}
	}
	if p.Attributes["_update_existing_only"] != false {
		t.Error("_update_existing_only should be false on a full push")
	}
}

func TestMapNoFxa(t *testing.T) {
	c := sample()
	c.Fxa = nil
	c.Email.BasketToken = nil
	ua := Map(c, nil, testMapping, false, pushAt).Attributes["user_attributes_v1"].([]UserAttributes)[0]
	if ua.HasFxa || ua.FxaCreatedAt != nil || ua.BasketToken != nil {
		t.Errorf("%+v", ua)
	}
	if got := Aliases(c); len(got) != 0 {
		t.Errorf("aliases %v, want none", got)
	}
}

func TestAliasesToAdd(t *testing.T) {
	c := sample()
	want := []braze.Alias{
		{ExternalID: c.Email.EmailID.String(), Label: "basket_token", Name: "c4a7d759-bb52-457b-896b-90f1d3ef8433"},
		{ExternalID: c.Email.EmailID.String(), Label: "fxa_id", Name: "6eb6ed6a"},
	}
	if got := AliasesToAdd(c, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("first: %v", got)
	}
	if got := AliasesToAdd(c, map[string]string{"basket_token": "c4a7d759-bb52-457b-896b-90f1d3ef8433", "fxa_id": "6eb6ed6a"}); len(got) != 0 {
		t.Errorf("all pushed: %v", got)
	}
	if got := AliasesToAdd(c, map[string]string{"basket_token": "c4a7d759-bb52-457b-896b-90f1d3ef8433", "fxa_id": "old"}); len(got) != 1 || got[0].Label != "fxa_id" {
		t.Errorf("fxa_id changed: %v", got)
	}
}

func TestRedact(t *testing.T) {
	got := Redact(`braze: 400 {"message":"invalid email Jane.Doe+x@example.co.uk"}`)
	if want := `braze: 400 {"message":"invalid email [address]"}`; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}
