package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const oldTS = "2020-01-01T00:00:00+00:00"

// patch sends a PATCH and requires 200; it returns the response object.
func (a *apiTest) patch(id string, body any) map[string]any {
	a.t.Helper()
	r := a.do("PATCH", "/ctms/"+id, body)
	require.Equal(a.t, http.StatusOK, r.Status, "%s", r.Body)
	requireContactShape(a.t, r.Body, true)
	got := r.Object(a.t)
	require.Equal(a.t, "ok", got["status"])
	require.JSONEq(a.t, string(r.Body), mustJSON(a.t, a.get(id)), "the answer is the stored contact")
	return got
}

// ageContact sets every timestamp of the contact to oldTS.
func (a *apiTest) ageContact(id string) {
	a.t.Helper()
	for _, table := range []string{"emails", "amo", "fxa", "mofo", "newsletters", "waitlists"} {
		a.exec(`UPDATE `+table+` SET create_timestamp = $2, update_timestamp = $2 WHERE email_id = $1`, id, oldTS)
	}
}

func TestPatchEmail(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	e := body["email"].(obj)
	e["first_name"], e["last_name"], e["sfdc_id"], e["email_lang"] = "Jane", "Doe", "sf", "fr"
	a.create(body)
	a.ageContact(id)
	token := uuid.New()
	got := a.patch(id, obj{"email": obj{
		"first_name": "John", "last_name": nil, "basket_token": strings.ToUpper(token.String()), "email_format": "T",
		"double_opt_in": true, "email_id": id, "create_timestamp": "1999-01-01T00:00:00+00:00", "unknown": 1,
	}})
	ge := got["email"].(map[string]any)
	require.Equal(t, "John", ge["first_name"])
	require.Nil(t, ge["last_name"], "null clears a field")
	require.Equal(t, "sf", ge["sfdc_id"], "absent keys are left alone")
	require.Equal(t, "fr", ge["email_lang"])
	require.Equal(t, e["primary_email"], ge["primary_email"])
	require.Equal(t, token.String(), ge["basket_token"])
	require.Equal(t, "T", ge["email_format"])
	require.Equal(t, true, ge["double_opt_in"])
	require.Equal(t, oldTS, ge["create_timestamp"], "timestamps in the body are ignored")
	require.NotEqual(t, oldTS, ge["update_timestamp"])

	// New primary email, in another case of the same address: allowed (it is this contact's).
	got = a.patch(id, obj{"email": obj{"primary_email": strings.ToUpper(e["primary_email"].(string)), "basket_token": nil}})
	require.Equal(t, strings.ToUpper(e["primary_email"].(string)), at(t, got, "email", "primary_email"))
	require.Nil(t, at(t, got, "email", "basket_token"))
}

func TestPatchEmptyBumpsUpdateTimestamp(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "n"}}
	body["amo"] = obj{"username": "u"}
	a.create(body)
	a.ageContact(id)
	got := a.patch(id, obj{})
	require.NotEqual(t, oldTS, at(t, got, "email", "update_timestamp"))
	require.Equal(t, oldTS, at(t, got, "email", "create_timestamp"))
	require.Equal(t, oldTS, at(t, got, "amo", "update_timestamp"), "untouched groups keep their timestamps")
	require.Equal(t, oldTS, at(t, got, "newsletters", 0, "update_timestamp"))
	// Unknown keys and legacy views are ignored too.
	got = a.patch(id, obj{"vpn_waitlist": obj{"geo": "fr"}, "relay_waitlist": obj{"geo": "fr"}, "status": "ok"})
	require.Equal(t, arr{}, got["waitlists"])
}

func TestPatchEmailIDChecks(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	other := uuid.NewString()
	requireDetail(t, a.do("PATCH", "/ctms/"+id, obj{"email": obj{"email_id": other}}), http.StatusUnprocessableEntity, "cannot change email_id")
	// Checked before existence.
	requireDetail(t, a.do("PATCH", "/ctms/"+uuid.NewString(), obj{"email": obj{"email_id": other}}), http.StatusUnprocessableEntity, "cannot change email_id")
	requireDetail(t, a.do("PATCH", "/ctms/"+uuid.NewString(), obj{}), http.StatusNotFound, "Unknown email_id")
	requireDetail(t, a.do("PATCH", "/ctms/"+uuid.NewString(), obj{"email": obj{"first_name": "x"}}), http.StatusNotFound, "Unknown email_id")
	// The same id (any spelling) is fine; null is the Python CTMS's 409
	// (TestPatchNullEmailIDConflicts).
	a.patch(id, obj{"email": obj{"email_id": strings.ToUpper(id)}})
	item := errorAt(t, a.do("PATCH", "/ctms/not-a-uuid", obj{}), "path", "email_id")
	require.Equal(t, "uuid_parsing", item["type"])
}

func TestPatchRejectsNulls(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["amo"] = obj{"username": "u"}
	body["newsletters"] = arr{obj{"name": "n"}}
	a.create(body)
	before := a.get(id)
	for _, key := range []string{"email", "amo", "fxa", "mofo", "newsletters", "waitlists"} {
		t.Run(key, func(t *testing.T) {
			a := a.on(t)
			r := a.do("PATCH", "/ctms/"+id, obj{key: nil})
			errs := validationErrors(t, r)
			require.Equal(t, arr{"body", key}, errs[0]["loc"].([]any)[:2], "%s", r.Body)
		})
	}
	r := a.do("PATCH", "/ctms/"+id, obj{"email": obj{"primary_email": nil}})
	require.Equal(t, []map[string]any{{"type": "assertion_error", "loc": arr{"body", "email", "primary_email"},
		"msg": "Assertion failed, primary_email may not be None", "input": nil, "ctx": obj{"error": obj{}}}}, validationErrors(t, r))
	require.Equal(t, before, a.get(id), "nothing changed")
}

func TestPatchMemberNamesMatchExactly(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["amo"] = obj{"username": "u"}
	body["waitlists"] = arr{obj{"name": "vpn", "fields": obj{"geo": "fr"}}}
	a.create(body)
	before := a.get(id)
	got := a.patch(id, obj{"amo": obj{"Username": nil, "DISPLAY_NAME": "x", "user": true},
		"waitlists": arr{obj{"name": "vpn", "Fields": obj{"geo": "de"}, "Key": 1}}})
	require.Equal(t, "u", at(t, got, "amo", "username"), "a case variant is no member")
	require.Nil(t, at(t, got, "amo", "display_name"))
	require.Equal(t, true, at(t, got, "amo", "user"))
	require.Equal(t, before["waitlists"], got["waitlists"])
}

func TestPatchGroups(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	type group struct {
		name     string
		value    obj // a non-default value
		changed  obj // a change to it
		defaults obj // explicit defaults for every field
		render   obj // the default rendering
		rowCheck string
	}
	groups := []group{
		{"amo", obj{"username": "u", "user": true}, obj{"display_name": "D"},
			obj{"add_on_ids": nil, "display_name": nil, "email_opt_in": false, "language": nil, "last_login": nil,
				"location": nil, "profile_url": nil, "user": false, "user_id": nil, "username": nil}, defaultAmo, "amo"},
		{"fxa", obj{"fxa_id": "f", "lang": "fr"}, obj{"first_service": "sync"},
			obj{"fxa_id": nil, "primary_email": nil, "created_date": nil, "lang": nil, "first_service": nil,
				"account_deleted": false}, defaultFxa, "fxa"},
		{"mofo", obj{"mofo_contact_id": "c", "mofo_relevant": true}, obj{"mofo_email_id": "m"},
			obj{"mofo_email_id": nil, "mofo_contact_id": nil, "mofo_relevant": false}, defaultMofo, "mofo"},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			a := a.on(t)
			t.Parallel()
			unique := func(v obj) obj { // fxa_id and mofo_email_id are unique
				out := obj{}
				for k, x := range v {
					if s, ok := x.(string); ok && (k == "fxa_id" || k == "mofo_email_id") {
						x = s + "-" + uuid.NewString()
					}
					out[k] = x
				}
				return out
			}

			t.Run("DELETE removes the row", func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				body[g.name] = unique(g.value)
				a.create(body)
				require.Equal(t, 1, a.rowsOf(id)[g.rowCheck])
				got := a.patch(id, obj{g.name: "DELETE"})
				require.Equal(t, g.render, got[g.name])
				require.Equal(t, 0, a.rowsOf(id)[g.rowCheck])
				got = a.patch(id, obj{g.name: "DELETE"}) // no-op when absent
				require.Equal(t, g.render, got[g.name])
			})
			t.Run("reset to defaults removes the row", func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				body[g.name] = unique(g.value)
				a.create(body)
				got := a.patch(id, obj{g.name: g.defaults})
				require.Equal(t, g.render, got[g.name])
				require.Equal(t, 0, a.rowsOf(id)[g.rowCheck])
			})
			t.Run("defaults into an absent group create nothing", func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				a.create(body)
				got := a.patch(id, obj{g.name: g.defaults})
				require.Equal(t, g.render, got[g.name])
				got = a.patch(id, obj{g.name: obj{}})
				require.Equal(t, g.render, got[g.name])
				require.Equal(t, 0, a.rowsOf(id)[g.rowCheck])
			})
			t.Run("object creates the group from present keys and defaults", func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				a.create(body)
				v := unique(g.value)
				got := a.patch(id, obj{g.name: v})
				want := obj{}
				for k, x := range g.render {
					want[k] = x
				}
				for k, x := range v {
					want[k] = x
				}
				gg := got[g.name].(map[string]any)
				if g.name == "amo" {
					require.Regexp(t, contactTimestamp, gg["create_timestamp"])
					require.Equal(t, gg["create_timestamp"], gg["update_timestamp"], "a new amo has create == update")
					want["create_timestamp"], want["update_timestamp"] = gg["create_timestamp"], gg["update_timestamp"]
				}
				require.Equal(t, want, gg)
				require.Equal(t, 1, a.rowsOf(id)[g.rowCheck])
			})
			t.Run("object writes only present keys", func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				v := unique(g.value)
				body[g.name] = v
				a.create(body)
				a.ageContact(id)
				ch := unique(g.changed)
				got := a.patch(id, obj{g.name: ch})
				gg := got[g.name].(map[string]any)
				for k, x := range v {
					require.Equal(t, x, gg[k], k)
				}
				for k, x := range ch {
					require.Equal(t, x, gg[k], k)
				}
				if g.name == "amo" {
					require.Equal(t, oldTS, gg["create_timestamp"])
					require.NotEqual(t, oldTS, gg["update_timestamp"], "a changed amo gets a new update_timestamp")
					a.ageContact(id)
					got = a.patch(id, obj{"amo": obj{"username": v["username"]}})
					require.Equal(t, oldTS, at(t, got, "amo", "update_timestamp"), "an unchanged amo keeps it")
				}
			})
		})
	}
}

// names lists "name:subscribed" of a response's newsletters or waitlists.
func names(t *testing.T, got map[string]any, list string) []string {
	t.Helper()
	var out []string
	for _, it := range got[list].([]any) {
		m := it.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%v", m["name"], m["subscribed"]))
	}
	return out
}

func TestPatchLists(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	initial := arr{obj{"name": "a", "unsub_reason": "r"}, obj{"name": "b", "subscribed": false, "unsub_reason": "bored"}, obj{"name": "c"}}
	tests := []struct {
		name  string
		patch any
		want  []string
	}{
		{"empty list is a no-op", arr{}, []string{"a:true", "b:false", "c:true"}},
		{"new item is created subscribed", arr{obj{"name": "d"}}, []string{"a:true", "b:false", "c:true", "d:true"}},
		{"new item subscribed true", arr{obj{"name": "d", "subscribed": true}}, []string{"a:true", "b:false", "c:true", "d:true"}},
		{"unknown name unsubscribed creates nothing", arr{obj{"name": "d", "subscribed": false}}, []string{"a:true", "b:false", "c:true"}},
		{"unsubscribed item is not re-subscribed by omission", arr{obj{"name": "b", "unsub_reason": "x"}}, []string{"a:true", "b:false", "c:true"}},
		{"unsubscribed item is re-subscribed explicitly", arr{obj{"name": "b", "subscribed": true}}, []string{"a:true", "b:true", "c:true"}},
		{"unsubscribe one", arr{obj{"name": "a", "subscribed": false}}, []string{"a:false", "b:false", "c:true"}},
		{"UNSUBSCRIBE keeps every row", "UNSUBSCRIBE", []string{"a:false", "b:false", "c:false"}},
		// As in pydantic, a member whose name differs only in case is an unknown member.
		{"member names match exactly", arr{obj{"name": "a", "Subscribed": false}, obj{"name": "d", "ſubscribed": false}},
			[]string{"a:true", "b:false", "c:true", "d:true"}},
	}
	for _, list := range []string{"newsletters", "waitlists"} {
		for _, tc := range tests {
			t.Run(list+"/"+tc.name, func(t *testing.T) {
				a := a.on(t)
				t.Parallel()
				id, body := newContact()
				body[list] = initial
				a.create(body)
				a.ageContact(id)
				got := a.patch(id, obj{list: tc.patch})
				require.Equal(t, tc.want, names(t, got, list))
				require.Equal(t, len(tc.want), a.rowsOf(id)[list])
				other := "waitlists"
				if list == "waitlists" {
					other = "newsletters"
				}
				require.Equal(t, arr{}, got[other])
				items := map[string]map[string]any{}
				for _, it := range got[list].([]any) {
					items[it.(map[string]any)["name"].(string)] = it.(map[string]any)
				}
				// Rows that did not change keep their update_timestamp; changed ones get a new one.
				if tc.patch != "UNSUBSCRIBE" {
					require.Equal(t, oldTS, items["c"]["update_timestamp"], "c is not changed")
				} else {
					require.NotEqual(t, oldTS, items["c"]["update_timestamp"], "c is unsubscribed")
					require.Equal(t, "r", items["a"]["unsub_reason"], "UNSUBSCRIBE leaves unsub_reason alone")
					require.Equal(t, "bored", items["b"]["unsub_reason"])
				}
				if d, ok := items["d"]; ok {
					require.Regexp(t, contactTimestamp, d["create_timestamp"])
					require.Equal(t, d["create_timestamp"], d["update_timestamp"])
				}
			})
		}
	}
}

func TestPatchNewsletterFields(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "a", "format": "T", "lang": "fr", "source": "https://a.example/", "unsub_reason": "r"}}
	a.create(body)
	a.ageContact(id)
	got := a.patch(id, obj{"newsletters": arr{obj{"name": "a", "lang": "de"}, obj{"name": "new", "source": "HTTPS://New.Example"}}})
	require.Equal(t, obj{"name": "a", "subscribed": true, "format": "T", "lang": "de", "source": "https://a.example/",
		"unsub_reason": "r", "create_timestamp": oldTS, "update_timestamp": at(t, got, "newsletters", 0, "update_timestamp")},
		at(t, got, "newsletters", 0))
	require.NotEqual(t, oldTS, at(t, got, "newsletters", 0, "update_timestamp"))
	nw := at(t, got, "newsletters", 1).(map[string]any)
	require.Equal(t, "new", nw["name"])
	require.Equal(t, "https://new.example/", nw["source"], "source is normalised")
	require.Equal(t, "H", nw["format"], "a created item takes the input defaults")
	require.Equal(t, "en", nw["lang"])
	require.Nil(t, nw["unsub_reason"])
	got = a.patch(id, obj{"newsletters": arr{obj{"name": "a", "source": nil, "lang": nil}}})
	require.Nil(t, at(t, got, "newsletters", 0, "source"))
	require.Nil(t, at(t, got, "newsletters", 0, "lang"))
}

func TestPatchWaitlistFields(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["waitlists"] = arr{obj{"name": "vpn", "fields": obj{"geo": "fr", "platform": "ios"}, "source": "https://a.example/"},
		obj{"name": "other", "fields": obj{"geo": "fr", "x": arr{1}}}}
	a.create(body)
	got := a.patch(id, obj{"waitlists": arr{obj{"name": "vpn", "fields": obj{"geo": "de"}}}})
	require.Equal(t, obj{"geo": "de"}, at(t, got, "waitlists", 1, "fields"), "fields are replaced, not merged")
	require.Equal(t, "https://a.example/", at(t, got, "waitlists", 1, "source"))
	require.Equal(t, obj{"geo": "de", "platform": nil}, got["vpn_waitlist"])
	require.Equal(t, obj{"geo": "fr", "x": arr{float64(1)}}, at(t, got, "waitlists", 0, "fields"), "unmentioned items are untouched")
	got = a.patch(id, obj{"waitlists": arr{obj{"name": "vpn", "subscribed": false}}})
	require.Equal(t, obj{"geo": "de"}, at(t, got, "waitlists", 1, "fields"), "omitted fields are kept")
	require.Equal(t, obj{"geo": nil, "platform": nil}, got["vpn_waitlist"])
	got = a.patch(id, obj{"waitlists": arr{obj{"name": "relay", "fields": obj{"geo": "es"}}}})
	require.Equal(t, obj{"geo": "es"}, got["relay_waitlist"])
	require.Equal(t, obj{}, at(t, a.patch(id, obj{"waitlists": arr{obj{"name": "fresh"}}}), "waitlists", 0, "fields"))

	// Rules follow the item's name.
	before := a.get(id)
	for name, patch := range map[string]obj{
		"relay extra":   {"name": "relay", "fields": obj{"geo": "es", "foo": "bar"}},
		"vpn extra":     {"name": "vpn", "fields": obj{"geo": "b", "platform": "win64", "extra": "boom"}},
		"long geo":      {"name": "other", "fields": obj{"geo": strings.Repeat("x", 101)}},
		"null fields":   {"name": "other", "fields": nil},
		"list fields":   {"name": "other", "fields": arr{obj{}}},
		"empty name":    {"name": ""},
		"bad source":    {"name": "other", "source": "foobar"},
		"numeric geo":   {"name": "other", "fields": obj{"geo": 1}},
		"long platform": {"name": "vpn", "fields": obj{"platform": strings.Repeat("x", 101)}},
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			validationErrors(t, a.do("PATCH", "/ctms/"+id, obj{"waitlists": arr{patch}}))
		})
	}
	require.Equal(t, before, a.get(id), "rejected PATCHes write nothing")
}

func TestPatchDuplicateNames(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "a"}}
	a.create(body)
	before := a.get(id)
	for _, list := range []string{"newsletters", "waitlists"} {
		for name, items := range map[string]arr{
			"both new":       {obj{"name": "x"}, obj{"name": "x", "subscribed": false}},
			"existing twice": {obj{"name": "a"}, obj{"name": "a"}},
		} {
			t.Run(list+"/"+name, func(t *testing.T) {
				a := a.on(t)
				item := errorAt(t, a.do("PATCH", "/ctms/"+id, obj{list: items}), "body", list, 1, "name")
				require.Equal(t, "value_error", item["type"])
			})
		}
	}
	require.Equal(t, before, a.get(id))
}

func TestPatchConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	otherID, other := newContact()
	token := uuid.NewString()
	other["email"].(obj)["basket_token"] = token
	other["fxa"] = obj{"fxa_id": "fxa-" + otherID}
	other["mofo"] = obj{"mofo_email_id": "mofo-" + otherID}
	a.create(other)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "n"}}
	body["amo"] = obj{"username": "u"}
	a.create(body)
	a.ageContact(id)
	before := a.get(id)
	for name, patch := range map[string]obj{
		"primary_email":            {"email": obj{"primary_email": other["email"].(obj)["primary_email"], "first_name": "x"}},
		"primary_email other case": {"email": obj{"primary_email": strings.ToLower(other["email"].(obj)["primary_email"].(string))}},
		"basket_token":             {"email": obj{"basket_token": token}, "newsletters": arr{obj{"name": "m"}}},
		"fxa_id":                   {"fxa": obj{"fxa_id": "fxa-" + otherID}, "amo": "DELETE"},
		"mofo_email_id":            {"mofo": obj{"mofo_email_id": "mofo-" + otherID}, "newsletters": "UNSUBSCRIBE"},
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			requireDetail(t, a.do("PATCH", "/ctms/"+id, patch), http.StatusConflict,
				"Contact with primary_email, basket_token, mofo_email_id, or fxa_id already exists")
			require.Equal(t, before, a.get(id), "nothing changed, not even update_timestamp")
		})
	}
}

func TestPatchConcurrent(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := a.send("PATCH", "/ctms/"+id, obj{"newsletters": arr{obj{"name": fmt.Sprintf("news-%02d", i)}},
				"email": obj{"first_name": fmt.Sprint(i)}})
			errs[i] = err
			if r != nil {
				statuses[i] = r.Status
			}
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusOK, statuses[i], "request %d", i)
	}
	got := a.get(id)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("news-%02d:true", i))
	}
	require.Equal(t, want, names(t, got, "newsletters"))
}
