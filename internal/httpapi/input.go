package httpapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
)

// patchFromBody maps a POST, PUT or PATCH body that fastapi.Model checked
// (api/openapi.yaml: ContactInSchema, ContactPutSchema, ContactPatchSchema) to
// the domain patch: an absent member is not given, null clears, a value sets.
// POST and PUT bodies become a whole contact with contact.New.
func patchFromBody(checked any) *contact.Patch {
	body, _ := checked.(map[string]any)
	p := &contact.Patch{}
	if e, ok := body["email"].(map[string]any); ok {
		p.Email = emailPatch(e)
	}
	switch g := body["amo"].(type) {
	case string: // "DELETE", the only string the schema lets through
		p.DeleteAmo = true
	case map[string]any:
		p.Amo = &contact.AddOnsPatch{
			AddOnIds: change[string](g, "add_on_ids"), DisplayName: change[string](g, "display_name"),
			EmailOptIn: value[bool](g, "email_opt_in"), Language: change[string](g, "language"),
			LastLogin: change[time.Time](g, "last_login"), Location: change[string](g, "location"),
			ProfileURL: change[string](g, "profile_url"), User: value[bool](g, "user"),
			UserID: change[string](g, "user_id"), Username: change[string](g, "username"),
		}
	}
	switch g := body["fxa"].(type) {
	case string:
		p.DeleteFxa = true
	case map[string]any:
		p.Fxa = &contact.FirefoxAccountsPatch{
			FxaID: change[string](g, "fxa_id"), PrimaryEmail: change[string](g, "primary_email"),
			CreatedDate: change[string](g, "created_date"), Lang: change[string](g, "lang"),
			FirstService: change[string](g, "first_service"), AccountDeleted: value[bool](g, "account_deleted"),
		}
	}
	switch g := body["mofo"].(type) {
	case string:
		p.DeleteMofo = true
	case map[string]any:
		p.Mofo = &contact.MozillaFoundationPatch{
			MofoEmailID: change[string](g, "mofo_email_id"), MofoContactID: change[string](g, "mofo_contact_id"),
			MofoRelevant: value[bool](g, "mofo_relevant"),
		}
	}
	switch l := body["newsletters"].(type) {
	case string: // "UNSUBSCRIBE"
		p.UnsubscribeAllNewsletters = true
	case []any:
		p.Newsletters = make([]contact.NewsletterPatch, len(l))
		for i, item := range l {
			n, _ := item.(map[string]any)
			name, _ := n["name"].(string)
			p.Newsletters[i] = contact.NewsletterPatch{Name: name, Subscribed: value[bool](n, "subscribed"),
				Format: value[string](n, "format"), Lang: change[string](n, "lang"), Source: change[string](n, "source"),
				UnsubReason: change[string](n, "unsub_reason")}
		}
	}
	switch l := body["waitlists"].(type) {
	case string:
		p.UnsubscribeAllWaitlists = true
	case []any:
		p.Waitlists = make([]contact.WaitlistPatch, len(l))
		for i, item := range l {
			w, _ := item.(map[string]any)
			name, _ := w["name"].(string)
			fields, _ := w["fields"].(json.RawMessage) // the text as sent: stored verbatim
			p.Waitlists[i] = contact.WaitlistPatch{Name: name, Source: change[string](w, "source"), Fields: fields,
				Subscribed: value[bool](w, "subscribed"), UnsubReason: change[string](w, "unsub_reason")}
		}
	}
	return p
}

func emailPatch(e map[string]any) *contact.EmailPatch {
	id, idGiven := e["email_id"]
	return &contact.EmailPatch{
		EmailID: value[uuid.UUID](e, "email_id"), EmailIDNull: idGiven && id == nil,
		PrimaryEmail: value[string](e, "primary_email"), BasketToken: change[uuid.UUID](e, "basket_token"),
		DoubleOptIn: value[bool](e, "double_opt_in"), SfdcID: change[string](e, "sfdc_id"),
		FirstName: change[string](e, "first_name"), LastName: change[string](e, "last_name"),
		MailingCountry: change[string](e, "mailing_country"), EmailFormat: value[string](e, "email_format"),
		EmailLang: change[string](e, "email_lang"), HasOptedOutOfEmail: value[bool](e, "has_opted_out_of_email"),
		UnsubscribeReason: change[string](e, "unsubscribe_reason"),
	}
}

// change is a member that may be cleared: not given when absent, cleared when null.
func change[T any](m map[string]any, key string) contact.Change[T] {
	v, present := m[key]
	switch {
	case !present:
		return contact.Change[T]{}
	case v == nil:
		return contact.Clear[T]()
	}
	x, _ := v.(T)
	return contact.Set(x)
}

// value is a member that cannot be cleared (nil: absent).
func value[T any](m map[string]any, key string) *T {
	if x, ok := m[key].(T); ok {
		return &x
	}
	return nil
}

// newBodyChecks are what the body walker needs beyond api/openapi.yaml: source
// URLs checked and normalised by the contact rules, the check_fields after validator.
func (s *server) newBodyChecks() *fastapi.Checks {
	return &fastapi.Checks{URL: contact.NormaliseSource, After: map[string]func(context.Context, map[string]any) ([]ValidationItem, error){
		"check_fields": s.checkFields,
	}}
}

// checkFields is the Python CTMS's check_fields validator of a waitlist item
// (api/openapi.yaml: x-after-validator): its fields follow the waitlist field
// rules. As in pydantic, the items' loc omit "fields" when a member is wrong.
func (s *server) checkFields(ctx context.Context, item map[string]any) ([]ValidationItem, error) {
	fields, ok := item["fields"].(json.RawMessage)
	if !ok {
		return nil, nil
	}
	rules, err := s.waitlistRules(ctx)
	if err != nil {
		return nil, err
	}
	return fieldRuleItems(rules, item, fields), nil
}

// fieldRuleItems are the items of the field rules a waitlist item breaks.
func fieldRuleItems(rules contact.FieldRules, item map[string]any, fields json.RawMessage) []ValidationItem {
	name, _ := item["name"].(string)
	var items []ValidationItem
	for _, fp := range rules.Check(name, fields) {
		field := fp.Field
		if field == "" {
			field = "fields"
		}
		items = append(items, ValidationItem{Type: fp.Type, Loc: []any{field}, Msg: fp.Msg, Input: fp.Input, Ctx: fp.Ctx})
	}
	return items
}

// problemItems are the 422 entries of the problems the contact rules find in a
// body the schema accepts (duplicate names), as pydantic's value errors.
func problemItems(problems []contact.Problem) []ValidationItem {
	items := make([]ValidationItem, len(problems))
	for i, p := range problems {
		items[i] = ValidationItem{Type: "value_error", Loc: []any{"body", p.List, p.Index, "name"},
			Msg: "Value error, " + p.Msg + " in this request", Input: p.Input, Ctx: map[string]any{"error": p.Msg}}
	}
	return items
}
