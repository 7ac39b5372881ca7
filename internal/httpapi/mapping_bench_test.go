package httpapi

// Benchmarks of the mapping between the API objects and the domain values, without
// HTTP or a database (they run anywhere):
//
//	go test ./internal/httpapi -run '^$' -bench 'Mapping' -benchmem

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
)

const benchMappingPatch = `{"email":{"first_name":"Augusta","last_name":null},` +
	`"amo":{"display_name":"ada","user":true},"fxa":"DELETE",` +
	`"newsletters":[{"name":"mozilla-and-you","subscribed":false},{"name":"firefox-news","lang":"de","source":"https://www.mozilla.org/de/"}],` +
	`"waitlists":[{"name":"vpn","fields":{"geo":"de","platform":"linux"}},{"name":"relay","fields":{"geo":"de"}}]}`

const benchMappingPost = `{"email":{"primary_email":"ada@example.com","basket_token":null,` +
	`"first_name":"Ada","last_name":"Lovelace","mailing_country":"fr","email_lang":"fr","email_format":"H"},` +
	`"fxa":{"fxa_id":"6eb6ed6ac3b64259968aa490c6c0b9df","primary_email":"ada@example.com",` +
	`"created_date":"2021-06-16T10:03:00.123456+00:00","lang":"fr,fr-FR;q=0.7,en;q=0.3","first_service":"sync"},` +
	`"newsletters":[{"name":"mozilla-and-you","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/newsletter/"},` +
	`{"name":"firefox-news","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/firefox/new/"}],` +
	`"waitlists":[{"name":"vpn","source":"https://www.mozilla.org/fr/products/vpn/","fields":{"geo":"fr","platform":"windows,mac"}}]}`

func benchRules() contact.FieldRules {
	hundred := 100
	return contact.FieldRules{
		{Waitlist: "*", Field: "geo", MaxLength: &hundred},
		{Waitlist: "*", Field: "platform", MaxLength: &hundred},
		{Waitlist: "relay", Field: "geo", MaxLength: &hundred, ExtraForbidden: true},
		{Waitlist: "vpn", Field: "geo", MaxLength: &hundred, ExtraForbidden: true},
		{Waitlist: "vpn", Field: "platform", MaxLength: &hundred, ExtraForbidden: true},
	}
}

// benchStoredContact is a typical stored contact: three newsletters, two waitlists.
func benchStoredContact() *contact.Contact {
	ts := time.Date(2021, 3, 28, 15, 41, 0, 123456000, time.UTC)
	fr := "fr"
	src := "https://www.mozilla.org/fr/newsletter/"
	return &contact.Contact{
		Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "ada@example.com", BasketToken: new(uuid.New()),
			FirstName: new("Ada"), LastName: new("Lovelace"), MailingCountry: &fr, EmailFormat: "H", EmailLang: &fr,
			CreateTimestamp: ts, UpdateTimestamp: ts},
		Fxa: &contact.FirefoxAccounts{FxaID: new("6eb6ed6ac3b64259968aa490c6c0b9df"), PrimaryEmail: new("ada@example.com"),
			Lang: &fr, FirstService: new("sync")},
		Newsletters: []contact.Newsletter{
			{Name: "firefox-news", Subscribed: true, Format: "H", Lang: &fr, Source: &src, CreateTimestamp: ts, UpdateTimestamp: ts},
			{Name: "mozilla-and-you", Subscribed: true, Format: "H", Lang: &fr, Source: &src, CreateTimestamp: ts, UpdateTimestamp: ts},
			{Name: "mozilla-foundation", Subscribed: false, Format: "H", Lang: &fr, UnsubReason: new("too many emails"), CreateTimestamp: ts, UpdateTimestamp: ts},
		},
		Waitlists: []contact.Waitlist{
			{Name: "relay", Fields: json.RawMessage(`{"geo":"fr"}`), Subscribed: true, CreateTimestamp: ts, UpdateTimestamp: ts},
			{Name: "vpn", Fields: json.RawMessage(`{"geo":"fr","platform":"windows,mac"}`), Subscribed: true, CreateTimestamp: ts, UpdateTimestamp: ts},
		},
	}
}

// benchChecked is a body checked by the body walker (the validate stage), ready to map.
func benchChecked(b *testing.B, method, path, body string) any {
	d, err := fastapi.DecodeBody([]byte(body))
	if err != nil {
		b.Fatal(err)
	}
	model, err := fastapi.NewModel(benchBodySchema(b, method, path))
	if err != nil {
		b.Fatal(err)
	}
	checked, items, err := model.Check(context.Background(), d, benchChecks(benchRules()))
	if err != nil || len(items) > 0 {
		b.Fatal(err, items)
	}
	return checked
}

// BenchmarkMappingPatch is a checked PATCH body to domain values, applied to a stored contact.
func BenchmarkMappingPatch(b *testing.B) {
	checked, stored := benchChecked(b, "PATCH", "/ctms/{email_id}", benchMappingPatch), benchStoredContact()
	b.ReportAllocs()
	for b.Loop() {
		p := patchFromBody(checked)
		if problems := p.Validate(); len(problems) > 0 {
			b.Fatal(problems)
		}
		p.Apply(stored.Clone())
	}
}

// BenchmarkMappingPost is a checked POST body to a contact.
func BenchmarkMappingPost(b *testing.B) {
	checked, id := benchChecked(b, "POST", "/ctms", benchMappingPost), uuid.New()
	b.ReportAllocs()
	for b.Loop() {
		in := patchFromBody(checked)
		if problems := in.Validate(); len(problems) > 0 {
			b.Fatal(problems)
		}
		_ = contact.New(id, in)
	}
}

// BenchmarkMappingResponse is a stored contact to the response body of GET /ctms/{email_id}.
func BenchmarkMappingResponse(b *testing.B) {
	c := benchStoredContact()
	w := discardWriter{http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		contactOK{status: http.StatusOK, contact: c}.write(w)
	}
}

// discardWriter is a response writer that keeps nothing but its headers.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}

// BenchmarkMappingIdempotent is the comparison of a re-POSTed contact with the stored one.
func BenchmarkMappingIdempotent(b *testing.B) {
	stored := benchStoredContact()
	again := stored.Clone()
	again.Waitlists[1].Fields = json.RawMessage(`{"geo": "fr", "platform": "windows,mac"}`) // as a client spaces it
	b.ReportAllocs()
	for b.Loop() {
		if !contact.IdempotentlyEqual(stored, again) {
			b.Fatal("not equal")
		}
	}
}
