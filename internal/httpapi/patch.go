package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
)

// patchFrom maps a PATCH body to the domain patch, reading each union of the
// body (a group or DELETE, a list or UNSUBSCRIBE) once. Its problems are
// checked before the contact is loaded, so that invalid input answers 422 even
// for an unknown email_id, as in the Python CTMS.
func patchFrom(b *api.ContactPatchSchema, rules contact.FieldRules) (*contact.Patch, error) {
	p := &contact.Patch{}
	if b.Email != nil {
		p.Email = emailPatch(b.Email)
	}
	if b.Amo != nil {
		del, in, err := alternative(b.Amo, "DELETE", b.Amo.AsAddOnsPatchSchema)
		if err != nil {
			return nil, fmt.Errorf("patch amo: %w", err)
		}
		if p.DeleteAmo = del; !del {
			p.Amo = addOnsPatch(&in)
		}
	}
	if b.Fxa != nil {
		del, in, err := alternative(b.Fxa, "DELETE", b.Fxa.AsFirefoxAccountsPatchSchema)
		if err != nil {
			return nil, fmt.Errorf("patch fxa: %w", err)
		}
		if p.DeleteFxa = del; !del {
			p.Fxa = fxaPatch(&in)
		}
	}
	if b.Mofo != nil {
		del, in, err := alternative(b.Mofo, "DELETE", b.Mofo.AsMozillaFoundationPatchSchema)
		if err != nil {
			return nil, fmt.Errorf("patch mofo: %w", err)
		}
		if p.DeleteMofo = del; !del {
			p.Mofo = mofoPatch(&in)
		}
	}
	if b.Newsletters != nil {
		all, in, err := alternative(b.Newsletters, "UNSUBSCRIBE", b.Newsletters.AsNewsletterPatchList)
		if err != nil {
			return nil, fmt.Errorf("patch newsletters: %w", err)
		}
		p.UnsubscribeAllNewsletters = all
		p.Newsletters = make([]contact.NewsletterPatch, len(in))
		for i := range in {
			p.Newsletters[i] = newsletterPatch(&in[i])
		}
	}
	if b.Waitlists != nil {
		all, in, err := alternative(b.Waitlists, "UNSUBSCRIBE", b.Waitlists.AsWaitlistPatchList)
		if err != nil {
			return nil, fmt.Errorf("patch waitlists: %w", err)
		}
		p.UnsubscribeAllWaitlists = all
		p.Waitlists = make([]contact.WaitlistPatch, len(in))
		for i := range in {
			p.Waitlists[i] = waitlistPatch(&in[i])
		}
	}
	if problems := p.Validate(rules); len(problems) > 0 {
		return nil, invalid(patchProblemItems(problems, b.Waitlists)...)
	}
	return p, nil
}

// waitlistsListTag is the union tag of the list alternative of PATCH waitlists.
const waitlistsListTag = "list[function-after[check_fields(), WaitlistBase]]"

// patchProblemItems are the 422 entries of a PATCH's problems, as pydantic
// lists them: it checks waitlist fields inside the list alternative of the
// union (its tag is in their loc), after the rest, then reports that the
// "UNSUBSCRIBE" alternative does not match either.
func patchProblemItems(problems []contact.Problem, waitlists unionRaw) []ValidationItem {
	items := make([]ValidationItem, 0, len(problems)+1)
	for i := range problems {
		if problems[i].Kind != contact.BrokenFieldRule {
			items = append(items, problemItem(&problems[i], []any{"body", problems[i].List, problems[i].Index}))
		}
	}
	fieldProblems := false
	for i := range problems {
		if p := &problems[i]; p.Kind == contact.BrokenFieldRule {
			items = append(items, problemItem(p, []any{"body", p.List, waitlistsListTag, p.Index}))
			fieldProblems = true
		}
	}
	if fieldProblems {
		items = append(items, unsubscribeLiteralError("waitlists", waitlists))
	}
	return items
}

// unionRaw is implemented by the generated oneOf wrappers: their JSON text.
type unionRaw interface{ MarshalJSON() ([]byte, error) }

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

// alternative reads a union of a string literal (DELETE, UNSUBSCRIBE: the
// validator let no other string through) and an object or a list of objects,
// decoded by its generated As... method as the validator read it. As...
// decodes with encoding/json, which also binds a member whose name differs
// from a field's only in case ("Subscribed"), where pydantic and the validator
// ignore it; so text that has such a name (rare) loses its inexact members first.
func alternative[T any](u unionRaw, literal string, as func() (T, error)) (isLiteral bool, v T, err error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return false, v, err
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil || s != literal {
			return false, v, fmt.Errorf("not the literal %q: %s", literal, t)
		}
		return true, v, nil
	}
	if hasCaseVariant(raw) {
		v, err = decodeExact[T](raw)
	} else {
		v, err = as()
	}
	return false, v, err
}

// patchMemberNames are the member names of the objects inside the PATCH unions.
var patchMemberNames = memberNames(api.AddOnsPatchSchema{}, api.FirefoxAccountsPatchSchema{},
	api.MozillaFoundationPatchSchema{}, api.NewsletterPatchSchema{}, api.WaitlistPatchSchema{})

func memberNames(objects ...any) map[string]bool {
	names := map[string]bool{}
	for _, o := range objects {
		t := reflect.TypeOf(o)
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names[name] = true
		}
	}
	return names
}

// hasCaseVariant reports whether a string of the JSON text raw (a member name
// or, erring on the safe side, any other string) is a case variant of a member
// name: one that encoding/json would bind to that member.
func hasCaseVariant(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end, escaped := i+1, false
		for ; end < len(raw) && raw[end] != '"'; end++ {
			if raw[end] == '\\' {
				escaped = true
				end++
			}
		}
		if end >= len(raw) {
			return true // not well-formed: the exact decoding reports it
		}
		s := raw[i+1 : end]
		if escaped {
			var unquoted string
			if json.Unmarshal(raw[i:end+1], &unquoted) != nil {
				return true
			}
			s = []byte(unquoted)
		}
		if isCaseVariant(s) {
			return true
		}
		i = end
	}
	return false
}

// isCaseVariant tells whether s folds (as encoding/json folds member names) to
// a member name without being one. Member names are lower-case ASCII; the only
// other runes that fold to ASCII letters are the Kelvin sign and the long s.
func isCaseVariant(s []byte) bool {
	var buf [32]byte
	folded, variant := buf[:0], false
	for _, r := range string(s) {
		switch {
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
			variant = true
		case r == '\u212a': // Kelvin sign
			r, variant = 'k', true
		case r == '\u017f': // long s
			r, variant = 's', true
		case r >= utf8.RuneSelf:
			return false
		}
		if len(folded) == len(buf) {
			return false // longer than any member name
		}
		folded = append(folded, byte(r))
	}
	return variant && patchMemberNames[string(folded)]
}

// decodeExact decodes the members of raw whose names are exactly member names.
func decodeExact[T any](raw []byte) (T, error) {
	var v T
	exact, err := exactMembers(raw)
	if err == nil {
		err = json.Unmarshal(exact, &v)
	}
	return v, err
}

// exactMembers is the JSON text of an object, or of a list of objects, without
// the members whose name is not exactly a member name.
func exactMembers(raw []byte) (json.RawMessage, error) {
	keepExact := func(o map[string]json.RawMessage) {
		for name := range o {
			if !patchMemberNames[name] {
				delete(o, name)
			}
		}
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		for _, o := range items {
			keepExact(o)
		}
		return json.Marshal(items)
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	keepExact(o)
	return json.Marshal(o)
}

func emailPatch(e *api.EmailPatchSchema) *contact.EmailPatch {
	p := &contact.EmailPatch{
		PrimaryEmail: e.PrimaryEmail, BasketToken: change(e.BasketToken), DoubleOptIn: e.DoubleOptIn,
		SfdcID: change(e.SfdcId), FirstName: change(e.FirstName), LastName: change(e.LastName),
		MailingCountry: change(e.MailingCountry), EmailFormat: (*string)(e.EmailFormat), EmailLang: change(e.EmailLang),
		HasOptedOutOfEmail: e.HasOptedOutOfEmail, UnsubscribeReason: change(e.UnsubscribeReason),
	}
	if id, err := e.EmailId.Get(); err == nil {
		p.EmailID = &id
	}
	return p
}

func addOnsPatch(in *api.AddOnsPatchSchema) *contact.AddOnsPatch {
	p := &contact.AddOnsPatch{
		AddOnIds: change(in.AddOnIds), DisplayName: change(in.DisplayName), EmailOptIn: in.EmailOptIn,
		Language: change(in.Language), Location: change(in.Location), ProfileURL: change(in.ProfileUrl),
		User: in.User, UserID: change(in.UserId), Username: change(in.Username),
	}
	if d, err := in.LastLogin.Get(); err == nil {
		p.LastLogin = contact.Set(d.Time)
	} else if in.LastLogin.IsNull() {
		p.LastLogin = contact.Clear[time.Time]()
	}
	return p
}

func fxaPatch(in *api.FirefoxAccountsPatchSchema) *contact.FirefoxAccountsPatch {
	return &contact.FirefoxAccountsPatch{
		FxaID: change(in.FxaId), PrimaryEmail: change(in.PrimaryEmail), CreatedDate: change(in.CreatedDate),
		Lang: change(in.Lang), FirstService: change(in.FirstService), AccountDeleted: in.AccountDeleted,
	}
}

func mofoPatch(in *api.MozillaFoundationPatchSchema) *contact.MozillaFoundationPatch {
	return &contact.MozillaFoundationPatch{
		MofoEmailID: change(in.MofoEmailId), MofoContactID: change(in.MofoContactId), MofoRelevant: in.MofoRelevant,
	}
}

func newsletterPatch(in *api.NewsletterPatchSchema) contact.NewsletterPatch {
	return contact.NewsletterPatch{
		Name: in.Name, Subscribed: in.Subscribed, Format: (*string)(in.Format), Lang: change(in.Lang),
		Source: change(in.Source), UnsubReason: change(in.UnsubReason),
	}
}

func waitlistPatch(in *api.WaitlistPatchSchema) contact.WaitlistPatch {
	p := contact.WaitlistPatch{
		Name: in.Name, Source: change(in.Source), Subscribed: in.Subscribed, UnsubReason: change(in.UnsubReason),
	}
	if in.Fields != nil {
		p.Fields = *in.Fields // the text as sent: stored verbatim
	}
	return p
}
