package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
)

// bodyModels are the body models of POST, PUT and PATCH, read from the spec.
func bodyModels(t testing.TB) map[string]*fastapi.Model {
	t.Helper()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	models := map[string]*fastapi.Model{}
	for _, op := range []struct{ method, path string }{{"POST", "/ctms"}, {"PUT", "/ctms/{email_id}"}, {"PATCH", "/ctms/{email_id}"}} {
		schema := spec.Paths.Value(op.path).GetOperation(op.method).RequestBody.Value.Content.Get("application/json").Schema.Value
		m, err := fastapi.NewModel(schema)
		require.NoError(t, err)
		models[op.method] = m
	}
	return models
}

// walkBody is the validate stage's body path without HTTP: decode, check,
// map, contact rules. items is what a 422 would list.
func walkBody(m *fastapi.Model, data []byte) (p *contact.Patch, items []ValidationItem, decoded bool) {
	d, err := m.Decode(data)
	if err != nil {
		return nil, nil, false
	}
	checked, items, err := m.Check(context.Background(), d, benchChecks(benchRules()))
	if err != nil {
		panic(err)
	}
	if len(items) > 0 {
		return nil, items, true
	}
	p = patchFromBody(checked)
	if problems := p.Validate(); len(problems) > 0 {
		return nil, problemItems(problems), true
	}
	return p, nil, true
}

// renderPatch writes p back as a body: what a client sends to get p.
func renderPatch(p *contact.Patch) []byte {
	body := map[string]any{}
	if e := p.Email; e != nil {
		m := map[string]any{}
		putValue(m, "email_id", e.EmailID)
		if e.EmailIDNull {
			m["email_id"] = nil
		}
		putValue(m, "primary_email", e.PrimaryEmail)
		putChange(m, "basket_token", e.BasketToken)
		putValue(m, "double_opt_in", e.DoubleOptIn)
		putChange(m, "sfdc_id", e.SfdcID)
		putChange(m, "first_name", e.FirstName)
		putChange(m, "last_name", e.LastName)
		putChange(m, "mailing_country", e.MailingCountry)
		putValue(m, "email_format", e.EmailFormat)
		putChange(m, "email_lang", e.EmailLang)
		putValue(m, "has_opted_out_of_email", e.HasOptedOutOfEmail)
		putChange(m, "unsubscribe_reason", e.UnsubscribeReason)
		body["email"] = m
	}
	switch {
	case p.DeleteAmo:
		body["amo"] = "DELETE"
	case p.Amo != nil:
		a, m := p.Amo, map[string]any{}
		putChange(m, "add_on_ids", a.AddOnIds)
		putChange(m, "display_name", a.DisplayName)
		putValue(m, "email_opt_in", a.EmailOptIn)
		putChange(m, "language", a.Language)
		if a.LastLogin.Given {
			m["last_login"] = nil
			if a.LastLogin.To != nil {
				m["last_login"] = a.LastLogin.To.Format(time.DateOnly)
			}
		}
		putChange(m, "location", a.Location)
		putChange(m, "profile_url", a.ProfileURL)
		putValue(m, "user", a.User)
		putChange(m, "user_id", a.UserID)
		putChange(m, "username", a.Username)
		body["amo"] = m
	}
	switch {
	case p.DeleteFxa:
		body["fxa"] = "DELETE"
	case p.Fxa != nil:
		f, m := p.Fxa, map[string]any{}
		putChange(m, "fxa_id", f.FxaID)
		putChange(m, "primary_email", f.PrimaryEmail)
		putChange(m, "created_date", f.CreatedDate)
		putChange(m, "lang", f.Lang)
		putChange(m, "first_service", f.FirstService)
		putValue(m, "account_deleted", f.AccountDeleted)
		body["fxa"] = m
	}
	switch {
	case p.DeleteMofo:
		body["mofo"] = "DELETE"
	case p.Mofo != nil:
		f, m := p.Mofo, map[string]any{}
		putChange(m, "mofo_email_id", f.MofoEmailID)
		putChange(m, "mofo_contact_id", f.MofoContactID)
		putValue(m, "mofo_relevant", f.MofoRelevant)
		body["mofo"] = m
	}
	switch {
	case p.UnsubscribeAllNewsletters:
		body["newsletters"] = "UNSUBSCRIBE"
	case p.Newsletters != nil:
		list := []any{}
		for _, n := range p.Newsletters {
			m := map[string]any{"name": n.Name}
			putValue(m, "subscribed", n.Subscribed)
			putValue(m, "format", n.Format)
			putChange(m, "lang", n.Lang)
			putChange(m, "source", n.Source)
			putChange(m, "unsub_reason", n.UnsubReason)
			list = append(list, m)
		}
		body["newsletters"] = list
	}
	switch {
	case p.UnsubscribeAllWaitlists:
		body["waitlists"] = "UNSUBSCRIBE"
	case p.Waitlists != nil:
		list := []any{}
		for _, w := range p.Waitlists {
			m := map[string]any{"name": w.Name}
			putChange(m, "source", w.Source)
			if w.Fields != nil {
				m["fields"] = w.Fields
			}
			putValue(m, "subscribed", w.Subscribed)
			putChange(m, "unsub_reason", w.UnsubReason)
			list = append(list, m)
		}
		body["waitlists"] = list
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func putValue[T any](m map[string]any, key string, v *T) {
	if v != nil {
		m[key] = *v
	}
}

func putChange[T any](m map[string]any, key string, c contact.Change[T]) {
	if c.Given {
		m[key] = nil
		if c.To != nil {
			m[key] = *c.To
		}
	}
}

// compactFields makes the fields of p comparable: their text compacted.
func compactFields(p *contact.Patch) {
	for i := range p.Waitlists {
		if f := p.Waitlists[i].Fields; f != nil {
			var buf bytes.Buffer
			if json.Compact(&buf, f) == nil {
				p.Waitlists[i].Fields = fastapi.UnescapeHTML(buf.Bytes())
			}
		}
	}
}

func bodySeeds() []string {
	return []string{
		benchMappingPost, benchMappingPatch, `{}`, `null`, `[]`, `"x"`,
		`{"email":{"primary_email":"a@b.c","email_id":"332de237-cab7-4461-bcc3-48e68f42bd5c","email_lang":null,"basket_token":"{C4A7D759-BB52-457B-896B-90F1D3EF8433}"}}`,
		`{"email":{"primary_email":"a@b.c","double_opt_in":"yes","has_opted_out_of_email":0}}`,
		`{"email":{"email_id":null,"primary_email":"x"},"amo":{"last_login":"2021-01-28T00:00:00","user":"on"}}`,
		`{"amo":{"last_login":1611792000},"fxa":"DELETE","mofo":{"mofo_relevant":"f"}}`,
		`{"newsletters":"UNSUBSCRIBE","waitlists":"UNSUBSCRIBE"}`,
		`{"newsletters":[{"name":"n","lang":null,"source":"HTTP://Example.com"},{"name":"n"}]}`,
		`{"waitlists":[{"name":"relay","fields":{"geo":"fr","x":1}},{"name":"w","fields":{ "b" : [1, {"<a>": "é"}] }}]}`,
		`{"email":{"primary_email":null,"Primary_Email":"x"},"amo":{"User":true,"user":"maybe"}}`,
		`{"email":{"primary_email":"a"},"newsletters":[{"name":"n","format":"N","subscribed":2}],"waitlists":[{"name":""}]}`,
	}
}

// FuzzBodyToPatch: every body the walker accepts maps to a patch that a client
// can send back (rendered as JSON, walked again) to get the same patch; every
// body it refuses has at least one item. Its seeds run in go test.
func FuzzBodyToPatch(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add([]byte(s))
	}
	models := bodyModels(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for method, m := range models {
			p, items, decoded := walkBody(m, data)
			if !decoded {
				continue
			}
			if p == nil {
				require.NotEmpty(t, items, "%s %q refused without an item", method, data)
				continue
			}
			again := renderPatch(p)
			q, items, decoded := walkBody(m, again)
			require.True(t, decoded, "%s %s", method, again)
			require.Empty(t, items, "%s %q rendered as %s", method, data, again)
			compactFields(p)
			compactFields(q)
			require.Equal(t, p, q, "%s %q rendered as %s", method, data, again)
		}
	})
}

// TestBodyModelsReadTheSpec: every property of the body schemas has its
// x-order, so that the walker's order is pydantic's and not a guess.
func TestBodyModelsReadTheSpec(t *testing.T) {
	spec, _, err := loadSpec()
	require.NoError(t, err)
	seen := map[*openapi3.Schema]bool{}
	var visit func(name string, s *openapi3.Schema)
	visit = func(name string, s *openapi3.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		for prop, ref := range s.Properties {
			_, onRef := ref.Extensions["x-order"]
			_, onSchema := ref.Value.Extensions["x-order"]
			require.True(t, onRef || onSchema, "%s.%s has no x-order", name, prop)
			visit(name+"."+prop, ref.Value)
		}
		for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.OneOf} {
			for _, ref := range refs {
				visit(name, ref.Value)
			}
		}
		if s.Items != nil {
			visit(name+"[]", s.Items.Value)
		}
	}
	for _, op := range []struct{ method, path string }{{"POST", "/ctms"}, {"PUT", "/ctms/{email_id}"}, {"PATCH", "/ctms/{email_id}"}} {
		visit(op.method, spec.Paths.Value(op.path).GetOperation(op.method).RequestBody.Value.Content.Get("application/json").Schema.Value)
	}
	require.Len(t, bodyModels(t), 3)
}
