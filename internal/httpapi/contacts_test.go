package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// contactTimestamp is a contact timestamp as the Python CTMS writes it:
// microseconds only when non-zero, and "+00:00", never "Z".
var contactTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$`)

// keysOf lists the keys of a JSON object in document order.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// member is the raw JSON of obj[key] (walks nested keys; ints index arrays).
func member(t *testing.T, raw []byte, path ...any) []byte {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(raw, &m))
			raw = m[k]
		case int:
			var l []json.RawMessage
			require.NoError(t, json.Unmarshal(raw, &l))
			raw = l[k]
		}
	}
	return raw
}

var (
	amoKeys = []string{"add_on_ids", "display_name", "email_opt_in", "language", "last_login", "location",
		"profile_url", "user", "user_id", "username", "create_timestamp", "update_timestamp"}
	emailKeys = []string{"primary_email", "basket_token", "double_opt_in", "sfdc_id", "first_name", "last_name",
		"mailing_country", "email_format", "email_lang", "has_opted_out_of_email", "unsubscribe_reason", "email_id",
		"create_timestamp", "update_timestamp"}
	fxaKeys        = []string{"fxa_id", "primary_email", "created_date", "lang", "first_service", "account_deleted"}
	mofoKeys       = []string{"mofo_email_id", "mofo_contact_id", "mofo_relevant"}
	newsletterKeys = []string{"name", "subscribed", "format", "lang", "source", "unsub_reason", "create_timestamp", "update_timestamp"}
	waitlistKeys   = []string{"name", "source", "fields", "subscribed", "unsub_reason", "create_timestamp", "update_timestamp"}
	contactKeys    = []string{"amo", "email", "fxa", "mofo", "newsletters", "waitlists", "vpn_waitlist", "relay_waitlist"}
	identityKeys   = []string{"email_id", "primary_email", "basket_token", "sfdc_id", "mofo_contact_id", "mofo_email_id",
		"amo_user_id", "fxa_id", "fxa_primary_email"}

	defaultAmo = obj{"add_on_ids": nil, "display_name": nil, "email_opt_in": false, "language": nil, "last_login": nil,
		"location": nil, "profile_url": nil, "user": false, "user_id": nil, "username": nil,
		"create_timestamp": nil, "update_timestamp": nil}
	defaultFxa = obj{"fxa_id": nil, "primary_email": nil, "created_date": nil, "lang": nil, "first_service": nil,
		"account_deleted": false}
	defaultMofo = obj{"mofo_email_id": nil, "mofo_contact_id": nil, "mofo_relevant": false}
)

// requireContactShape checks the key order of a contact object (single: with status).
func requireContactShape(t *testing.T, raw []byte, single bool) {
	t.Helper()
	want := contactKeys
	if single {
		want = append(append([]string(nil), contactKeys...), "status")
	}
	require.Equal(t, want, keysOf(t, raw))
	require.Equal(t, amoKeys, keysOf(t, member(t, raw, "amo")))
	require.Equal(t, emailKeys, keysOf(t, member(t, raw, "email")))
	require.Equal(t, fxaKeys, keysOf(t, member(t, raw, "fxa")))
	require.Equal(t, mofoKeys, keysOf(t, member(t, raw, "mofo")))
	require.Equal(t, []string{"geo", "platform"}, keysOf(t, member(t, raw, "vpn_waitlist")))
	require.Equal(t, []string{"geo"}, keysOf(t, member(t, raw, "relay_waitlist")))
	var lists struct{ Newsletters, Waitlists []json.RawMessage }
	require.NoError(t, json.Unmarshal(raw, &lists))
	for _, n := range lists.Newsletters {
		require.Equal(t, newsletterKeys, keysOf(t, n))
	}
	for _, w := range lists.Waitlists {
		require.Equal(t, waitlistKeys, keysOf(t, w))
	}
}

func TestCreateMinimalContact(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	email := body["email"].(obj)["primary_email"].(string)

	r := a.do("POST", "/ctms", body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, "/ctms/"+id, r.Header.Get("Location"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	requireContactShape(t, r.Body, true)
	got := r.Object(t)
	require.Equal(t, "ok", got["status"])
	require.Equal(t, defaultAmo, got["amo"])
	require.Equal(t, defaultFxa, got["fxa"])
	require.Equal(t, defaultMofo, got["mofo"])
	require.Equal(t, arr{}, got["newsletters"])
	require.Equal(t, arr{}, got["waitlists"])
	require.Equal(t, obj{"geo": nil, "platform": nil}, got["vpn_waitlist"])
	require.Equal(t, obj{"geo": nil}, got["relay_waitlist"])
	e := got["email"].(map[string]any)
	created, updated := e["create_timestamp"].(string), e["update_timestamp"].(string)
	require.Regexp(t, contactTimestamp, created)
	require.Equal(t, created, updated, "POST sets both timestamps to the insert time")
	delete(e, "create_timestamp")
	delete(e, "update_timestamp")
	require.Equal(t, obj{
		"primary_email": email, "basket_token": nil, "double_opt_in": false, "sfdc_id": nil, "first_name": nil,
		"last_name": nil, "mailing_country": nil, "email_format": "H", "email_lang": "en",
		"has_opted_out_of_email": false, "unsubscribe_reason": nil, "email_id": id,
	}, e)
	require.Equal(t, map[string]int{"emails": 1, "amo": 0, "fxa": 0, "mofo": 0, "newsletters": 0, "waitlists": 0}, a.rowsOf(id))

	// The stored contact reads back identically.
	r2 := a.do("GET", "/ctms/"+id, nil)
	require.Equal(t, http.StatusOK, r2.Status)
	requireContactShape(t, r2.Body, true)
	require.JSONEq(t, string(r.Body), string(r2.Body))
}

func TestCreateGeneratesEmailID(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for name, email := range map[string]obj{
		"absent": {"primary_email": newEmail()},
		"null":   {"primary_email": newEmail(), "email_id": nil},
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			r := a.do("POST", "/ctms", obj{"email": email})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			id := at(t, r.JSON(t), "email", "email_id").(string)
			parsed, err := uuid.Parse(id)
			require.NoError(t, err)
			require.Equal(t, uuid.Version(4), parsed.Version())
			require.Equal(t, "/ctms/"+id, r.Header.Get("Location"))
		})
	}
}

func TestCreateFullContact(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	u := strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	token := uuid.New()
	body := obj{
		"email": obj{"email_id": id, "primary_email": newEmail(), "basket_token": strings.ToUpper(token.String()),
			"double_opt_in": true, "sfdc_id": "sf" + u, "first_name": "Jane", "last_name": "Doe", "mailing_country": "us",
			"email_format": "T", "email_lang": "fr", "has_opted_out_of_email": true, "unsubscribe_reason": "why not",
			"create_timestamp": "2000-01-01T00:00:00+00:00", "update_timestamp": "2000-01-01T00:00:00+00:00"},
		"amo": obj{"add_on_ids": "a,b", "display_name": "Jane", "email_opt_in": true, "language": "fr",
			"last_login": "2021-01-28", "location": "Paris", "profile_url": "https://a.b/c", "user": true,
			"user_id": "amo" + u, "username": "jane"},
		"fxa": obj{"fxa_id": "fxa" + u, "primary_email": "Fxa." + u + "@example.com", "created_date": "2021-01-29T18:43:49.082375+00:00",
			"lang": "fr,en", "first_service": "sync", "account_deleted": false},
		"mofo":        obj{"mofo_email_id": "me" + u, "mofo_contact_id": "mc" + u, "mofo_relevant": true},
		"newsletters": arr{obj{"name": "zeta", "subscribed": false, "unsub_reason": "bored"}, obj{"name": "alpha", "source": "HTTP://Example.COM:80/a b", "format": "T", "lang": "de"}},
		"waitlists": arr{obj{"name": "vpn", "fields": obj{"geo": "fr", "platform": "ios,mac"}},
			obj{"name": "guardian", "source": "https://example.com/x", "fields": obj{"geo": "br", "foo": arr{1, "x"}}, "subscribed": false}},
		"status":         "ok",
		"vpn_waitlist":   obj{"geo": "xx", "platform": "yy"},
		"relay_waitlist": obj{"geo": "zz"},
	}
	r := a.do("POST", "/ctms", body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	requireContactShape(t, r.Body, true)
	got := r.Object(t)

	e := got["email"].(map[string]any)
	require.Equal(t, token.String(), e["basket_token"], "basket_token is stored canonical lower-case")
	require.NotEqual(t, "2000-01-01T00:00:00+00:00", e["create_timestamp"], "input timestamps are ignored")
	require.Equal(t, "T", e["email_format"])
	require.Equal(t, true, e["has_opted_out_of_email"])

	amo := got["amo"].(map[string]any)
	require.Regexp(t, contactTimestamp, amo["create_timestamp"])
	require.Equal(t, amo["create_timestamp"], amo["update_timestamp"])
	require.Equal(t, "2021-01-28", amo["last_login"])
	require.Equal(t, true, amo["user"])
	require.Equal(t, obj{"fxa_id": "fxa" + u, "primary_email": "Fxa." + u + "@example.com",
		"created_date": "2021-01-29T18:43:49.082375+00:00", "lang": "fr,en", "first_service": "sync", "account_deleted": false}, got["fxa"])
	require.Equal(t, obj{"mofo_email_id": "me" + u, "mofo_contact_id": "mc" + u, "mofo_relevant": true}, got["mofo"])

	nls := got["newsletters"].([]any)
	require.Len(t, nls, 2)
	alpha, zeta := nls[0].(map[string]any), nls[1].(map[string]any)
	require.Equal(t, "alpha", alpha["name"], "newsletters are ordered by name")
	require.Equal(t, "http://example.com/a%20b", alpha["source"], "source is normalised")
	require.Equal(t, "T", alpha["format"])
	require.Equal(t, "de", alpha["lang"])
	require.Equal(t, true, alpha["subscribed"])
	require.Equal(t, obj{"name": "zeta", "subscribed": false, "format": "H", "lang": "en", "source": nil,
		"unsub_reason": "bored", "create_timestamp": zeta["create_timestamp"], "update_timestamp": zeta["update_timestamp"]}, zeta)
	require.Regexp(t, contactTimestamp, zeta["create_timestamp"])

	wls := got["waitlists"].([]any)
	require.Len(t, wls, 2)
	require.Equal(t, "guardian", at(t, wls, 0, "name"))
	require.Equal(t, obj{"geo": "br", "foo": arr{float64(1), "x"}}, at(t, wls, 0, "fields"))
	require.Equal(t, false, at(t, wls, 0, "subscribed"))
	require.Equal(t, "https://example.com/x", at(t, wls, 0, "source"))
	require.Equal(t, "vpn", at(t, wls, 1, "name"))
	require.Equal(t, obj{"geo": "fr", "platform": "ios,mac"}, got["vpn_waitlist"], "legacy input keys are ignored")
	require.Equal(t, obj{"geo": nil}, got["relay_waitlist"])
	require.Equal(t, map[string]int{"emails": 1, "amo": 1, "fxa": 1, "mofo": 1, "newsletters": 2, "waitlists": 2}, a.rowsOf(id))
	require.JSONEq(t, string(r.Body), string(a.do("GET", "/ctms/"+id, nil).Body))
}

func TestCreateIdempotency(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	full := func() (string, obj) {
		id, body := newContact()
		body["email"].(obj)["first_name"] = "Jane"
		body["newsletters"] = arr{obj{"name": "b-news"}, obj{"name": "a-news", "subscribed": false}}
		body["waitlists"] = arr{obj{"name": "w", "fields": obj{"geo": "fr", "x": 1}}}
		body["amo"] = obj{"user_id": "amo-" + id}
		return id, body
	}
	clone := func(b obj) obj {
		raw, _ := json.Marshal(b)
		var out obj
		_ = json.Unmarshal(raw, &out)
		return out
	}
	tests := []struct {
		name   string
		second func(id string, first obj, created map[string]any) obj
		status int
	}{
		{"identical", func(_ string, first obj, _ map[string]any) obj { return first }, http.StatusOK},
		{"identical lists in another order", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			nl := b["newsletters"].([]any)
			b["newsletters"] = arr{nl[1], nl[0]}
			return b
		}, http.StatusOK},
		{"response body of the 201", func(_ string, _ obj, created map[string]any) obj { return created }, http.StatusOK},
		{"default groups count as absent", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["fxa"] = obj{"account_deleted": false}
			b["mofo"] = obj{}
			return b
		}, http.StatusOK},
		{"null groups count as absent", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["fxa"], b["mofo"] = nil, nil
			return b
		}, http.StatusOK},
		{"explicit defaults equal omitted ones", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			e := b["email"].(map[string]any)
			e["email_format"], e["email_lang"], e["double_opt_in"] = "H", "en", false
			b["newsletters"].([]any)[0].(map[string]any)["lang"] = "en"
			return b
		}, http.StatusOK},
		{"email field differs", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["email"].(map[string]any)["first_name"] = "John"
			return b
		}, http.StatusConflict},
		{"group differs", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["amo"].(map[string]any)["display_name"] = "x"
			return b
		}, http.StatusConflict},
		{"group removed", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			delete(b, "amo")
			return b
		}, http.StatusConflict},
		{"newsletter differs", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["newsletters"].([]any)[1].(map[string]any)["subscribed"] = true
			return b
		}, http.StatusConflict},
		{"newsletter missing", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["newsletters"] = b["newsletters"].([]any)[:1]
			return b
		}, http.StatusConflict},
		{"waitlist fields differ", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			b["waitlists"].([]any)[0].(map[string]any)["fields"] = obj{"geo": "fr"}
			return b
		}, http.StatusConflict},
		{"same payload without email_id", func(_ string, first obj, _ map[string]any) obj {
			b := clone(first)
			delete(b["email"].(map[string]any), "email_id")
			return b
		}, http.StatusConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			t.Parallel()
			id, first := full()
			created := a.create(first)
			before := a.get(id)
			r := a.do("POST", "/ctms", tc.second(id, first, created))
			if tc.status == http.StatusConflict {
				requireDetail(t, r, http.StatusConflict, "Contact already exists")
				require.JSONEq(t, mustJSON(t, before), mustJSON(t, a.get(id)), "a refused POST changes nothing")
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			require.Equal(t, "/ctms/"+id, r.Header.Get("Location"))
			require.JSONEq(t, mustJSON(t, before), string(r.Body), "the answer is the stored contact")
			require.JSONEq(t, mustJSON(t, before), mustJSON(t, a.get(id)))
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

func TestCreateConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	u := strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	token := uuid.NewString()
	firstID, first := newContact()
	email := first["email"].(obj)["primary_email"].(string)
	first["email"].(obj)["basket_token"] = token
	first["fxa"] = obj{"fxa_id": "fxa" + u}
	first["mofo"] = obj{"mofo_email_id": "mofo" + u}
	a.create(first)

	tests := []struct {
		name   string
		mutate func(b obj)
	}{
		{"same primary_email", func(b obj) { b["email"].(obj)["primary_email"] = email }},
		{"primary_email in another case", func(b obj) { b["email"].(obj)["primary_email"] = strings.ToUpper(email) }},
		{"same basket_token", func(b obj) { b["email"].(obj)["basket_token"] = token }},
		{"same basket_token in upper case", func(b obj) { b["email"].(obj)["basket_token"] = strings.ToUpper(token) }},
		{"same fxa_id", func(b obj) { b["fxa"] = obj{"fxa_id": "fxa" + u} }},
		{"same mofo_email_id", func(b obj) { b["mofo"] = obj{"mofo_email_id": "mofo" + u} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			t.Parallel()
			id, body := newContact()
			body["newsletters"] = arr{obj{"name": "n"}}
			tc.mutate(body)
			requireDetail(t, a.do("POST", "/ctms", body), http.StatusConflict, "Contact already exists")
			a.noRows(id)
		})
	}
	require.Equal(t, 1, a.rowsOf(firstID)["emails"])
}

func TestCreateRejectsNonV4EmailID(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, id := range []string{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "00000000-0000-0000-0000-000000000000"} {
		body := obj{"email": obj{"email_id": id, "primary_email": newEmail()}}
		for _, method := range []string{"POST", "PUT"} {
			path := "/ctms"
			if method == "PUT" {
				path += "/" + id
			}
			r := a.do(method, path, body)
			require.Equal(t, obj{"type": "uuid_version", "loc": arr{"body", "email", "email_id"},
				"msg": "UUID version 4 expected", "input": id, "ctx": obj{"expected_version": float64(4)}},
				errorAt(t, r, "body", "email", "email_id"))
		}
	}
}

func TestReadContact(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	parsed := uuid.MustParse(id)
	for name, spelling := range map[string]string{
		"canonical":  id,
		"upper case": strings.ToUpper(id),
		"no hyphens": strings.ReplaceAll(id, "-", ""),
		"braces":     "{" + id + "}",
		"urn":        "urn:uuid:" + id,
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			r := a.do("GET", "/ctms/"+url.PathEscape(spelling), nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			require.Equal(t, parsed.String(), at(t, r.JSON(t), "email", "email_id"))
		})
	}
	requireDetail(t, a.do("GET", "/ctms/"+uuid.NewString(), nil), http.StatusNotFound, "Unknown email_id")
	// Path UUIDs may be of any version.
	requireDetail(t, a.do("GET", "/ctms/6ba7b810-9dad-11d1-80b4-00c04fd430c8", nil), http.StatusNotFound, "Unknown email_id")
	item := errorAt(t, a.do("GET", "/ctms/an-invalid-id", nil), "path", "email_id")
	require.Equal(t, "uuid_parsing", item["type"])
	require.Equal(t, "an-invalid-id", item["input"])
	require.True(t, strings.HasPrefix(item["msg"].(string), "Input should be a valid UUID, "), item["msg"])
}

func TestTimestampFormats(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "n"}}
	body["waitlists"] = arr{obj{"name": "w"}}
	body["amo"] = obj{"username": "x"}
	a.create(body)
	a.exec(`UPDATE emails SET create_timestamp = '2020-03-28 15:41:00+00', update_timestamp = '2021-01-28 21:26:57.511+00' WHERE email_id = $1`, id)
	a.exec(`UPDATE newsletters SET create_timestamp = '2020-12-05 19:21:50.908+01', update_timestamp = '2021-02-04 15:36:57.000001+00' WHERE email_id = $1`, id)
	a.exec(`UPDATE waitlists SET create_timestamp = '2020-12-05 19:21:50+00', update_timestamp = '2021-02-04 15:36:57.5+00' WHERE email_id = $1`, id)
	a.exec(`UPDATE amo SET create_timestamp = '2019-01-01 00:00:00+00', update_timestamp = '2019-01-01 00:00:00.1+00' WHERE email_id = $1`, id)
	got := a.get(id)
	require.Equal(t, "2020-03-28T15:41:00+00:00", at(t, got, "email", "create_timestamp"))
	require.Equal(t, "2021-01-28T21:26:57.511000+00:00", at(t, got, "email", "update_timestamp"))
	require.Equal(t, "2020-12-05T18:21:50.908000+00:00", at(t, got, "newsletters", 0, "create_timestamp"))
	require.Equal(t, "2021-02-04T15:36:57.000001+00:00", at(t, got, "newsletters", 0, "update_timestamp"))
	require.Equal(t, "2020-12-05T19:21:50+00:00", at(t, got, "waitlists", 0, "create_timestamp"))
	require.Equal(t, "2021-02-04T15:36:57.500000+00:00", at(t, got, "waitlists", 0, "update_timestamp"))
	require.Equal(t, "2019-01-01T00:00:00+00:00", at(t, got, "amo", "create_timestamp"))
	require.Equal(t, "2019-01-01T00:00:00.100000+00:00", at(t, got, "amo", "update_timestamp"))
}

func TestLegacyWaitlistViews(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tests := []struct {
		name      string
		waitlists arr
		vpn       obj
		relay     obj
	}{
		{"none", arr{}, obj{"geo": nil, "platform": nil}, obj{"geo": nil}},
		{"subscribed vpn", arr{obj{"name": "vpn", "fields": obj{"geo": "fr", "platform": "ios,mac"}}},
			obj{"geo": "fr", "platform": "ios,mac"}, obj{"geo": nil}},
		{"vpn without platform", arr{obj{"name": "vpn", "fields": obj{"geo": "fr"}}},
			obj{"geo": "fr", "platform": nil}, obj{"geo": nil}},
		{"vpn with null geo", arr{obj{"name": "vpn", "fields": obj{"geo": nil, "platform": "ios"}}},
			obj{"geo": nil, "platform": "ios"}, obj{"geo": nil}},
		{"relay with null geo", arr{obj{"name": "relay", "fields": obj{"geo": nil}}, obj{"name": "relay-b", "fields": obj{"geo": "de"}}},
			obj{"geo": nil, "platform": nil}, obj{"geo": "de"}},
		{"unsubscribed vpn", arr{obj{"name": "vpn", "subscribed": false, "fields": obj{"geo": "fr", "platform": "ios"}}},
			obj{"geo": nil, "platform": nil}, obj{"geo": nil}},
		{"vpn-like name", arr{obj{"name": "vpn-beta", "fields": obj{"geo": "fr", "platform": "ios"}}},
			obj{"geo": nil, "platform": nil}, obj{"geo": nil}},
		{"relay", arr{obj{"name": "relay", "fields": obj{"geo": "es"}}}, obj{"geo": nil, "platform": nil}, obj{"geo": "es"}},
		{"first non-null geo among subscribed relay*", arr{
			obj{"name": "relay", "subscribed": false, "fields": obj{"geo": "fr"}},
			obj{"name": "relay-a", "fields": obj{}},
			obj{"name": "relay-c", "fields": obj{"geo": "it"}},
			obj{"name": "relay-b", "fields": obj{"geo": "de"}},
			obj{"name": "a-relay", "fields": obj{"geo": "nl"}},
		}, obj{"geo": nil, "platform": nil}, obj{"geo": "de"}},
		{"unsubscribed relay only", arr{obj{"name": "relay-phone", "subscribed": false, "fields": obj{"geo": "fr"}}},
			obj{"geo": nil, "platform": nil}, obj{"geo": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			t.Parallel()
			id, body := newContact()
			body["waitlists"] = tc.waitlists
			got := a.create(body)
			require.Equal(t, tc.vpn, got["vpn_waitlist"])
			require.Equal(t, tc.relay, got["relay_waitlist"])
			require.Len(t, got["waitlists"], len(tc.waitlists), "legacy views create no waitlist")
			got = a.get(id)
			require.Equal(t, tc.vpn, got["vpn_waitlist"])
			require.Equal(t, tc.relay, got["relay_waitlist"])
		})
	}
}

func TestPutCreates(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "n"}}
	r := a.do("PUT", "/ctms/"+id, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Empty(t, r.Header.Get("Location"), "PUT answers without Location")
	requireContactShape(t, r.Body, true)
	got := r.Object(t)
	require.Equal(t, "ok", got["status"])
	require.Equal(t, id, at(t, got, "email", "email_id"))
	require.Equal(t, "en", at(t, got, "newsletters", 0, "lang"))
	require.JSONEq(t, string(r.Body), mustJSON(t, a.get(id)))
}

func TestPutReplaces(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	e := body["email"].(obj)
	e["first_name"], e["email_lang"], e["email_format"] = "Jane", "fr", "T"
	body["amo"] = obj{"username": "jane"}
	body["fxa"] = obj{"fxa_id": "fxa-" + id}
	body["mofo"] = obj{"mofo_contact_id": "mc-" + id}
	body["newsletters"] = arr{obj{"name": "keep", "format": "H"}, obj{"name": "drop"}}
	body["waitlists"] = arr{obj{"name": "wkeep", "fields": obj{"geo": "fr"}}, obj{"name": "wdrop"}}
	a.create(body)
	old := "2020-01-01T00:00:00+00:00"
	for _, table := range []string{"emails", "newsletters", "waitlists"} {
		a.exec(`UPDATE `+table+` SET create_timestamp = $2, update_timestamp = $2 WHERE email_id = $1`, id, old)
	}
	var nlID, wlID int64
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT id FROM newsletters WHERE email_id = $1 AND name = 'keep'`, id).Scan(&nlID))
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT id FROM waitlists WHERE email_id = $1 AND name = 'wkeep'`, id).Scan(&wlID))

	replacement := obj{
		"email":       obj{"email_id": id, "primary_email": e["primary_email"]},
		"amo":         obj{"email_opt_in": false}, // all default: removed
		"newsletters": arr{obj{"name": "keep", "format": "T"}, obj{"name": "new"}},
		"waitlists":   arr{obj{"name": "wkeep", "fields": obj{"platform": "mac"}}},
	}
	r := a.do("PUT", "/ctms/"+id, replacement)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Empty(t, r.Header.Get("Location"))
	got := r.Object(t)
	ge := got["email"].(map[string]any)
	require.Nil(t, ge["first_name"], "omitted fields take their defaults")
	require.Equal(t, "en", ge["email_lang"])
	require.Equal(t, "H", ge["email_format"])
	require.Equal(t, old, ge["create_timestamp"])
	require.NotEqual(t, old, ge["update_timestamp"])
	require.Equal(t, defaultAmo, got["amo"])
	require.Equal(t, defaultFxa, got["fxa"])
	require.Equal(t, defaultMofo, got["mofo"])

	nls := got["newsletters"].([]any)
	require.Len(t, nls, 2)
	require.Equal(t, "keep", at(t, nls, 0, "name"))
	require.Equal(t, "T", at(t, nls, 0, "format"))
	require.Equal(t, old, at(t, nls, 0, "create_timestamp"), "a kept newsletter keeps its create_timestamp")
	require.NotEqual(t, old, at(t, nls, 0, "update_timestamp"), "and gets a new update_timestamp")
	require.Equal(t, "new", at(t, nls, 1, "name"))
	wls := got["waitlists"].([]any)
	require.Len(t, wls, 1)
	require.Equal(t, obj{"platform": "mac"}, at(t, wls, 0, "fields"))
	require.Equal(t, old, at(t, wls, 0, "create_timestamp"))
	require.NotEqual(t, old, at(t, wls, 0, "update_timestamp"))

	require.Equal(t, map[string]int{"emails": 1, "amo": 0, "fxa": 0, "mofo": 0, "newsletters": 2, "waitlists": 1}, a.rowsOf(id))
	var nlID2, wlID2 int64
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT id FROM newsletters WHERE email_id = $1 AND name = 'keep'`, id).Scan(&nlID2))
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT id FROM waitlists WHERE email_id = $1 AND name = 'wkeep'`, id).Scan(&wlID2))
	require.Equal(t, nlID, nlID2, "kept rows keep their identity")
	require.Equal(t, wlID, wlID2)

	// PUT with empty lists removes them all; an unchanged PUT still bumps update timestamps.
	a.exec(`UPDATE emails SET update_timestamp = $2 WHERE email_id = $1`, id, old)
	r = a.do("PUT", "/ctms/"+id, obj{"email": obj{"email_id": id, "primary_email": e["primary_email"]}, "newsletters": arr{}, "waitlists": arr{}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.NotEqual(t, old, at(t, r.JSON(t), "email", "update_timestamp"))
	require.Equal(t, map[string]int{"emails": 1, "amo": 0, "fxa": 0, "mofo": 0, "newsletters": 0, "waitlists": 0}, a.rowsOf(id))
}

func TestPutRoundTrip(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["amo"] = obj{"username": "x", "last_login": "2020-02-02"}
	body["fxa"] = obj{"fxa_id": "f-" + id}
	body["newsletters"] = arr{obj{"name": "n", "source": "https://example.com"}, obj{"name": "m", "subscribed": false}}
	body["waitlists"] = arr{obj{"name": "vpn", "fields": obj{"geo": "fr"}}}
	a.create(body)
	before := a.get(id)
	r := a.do("PUT", "/ctms/"+id, before)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	after := r.Object(t)
	// Everything but update timestamps is unchanged.
	for _, c := range []map[string]any{before, after} {
		delete(c["email"].(map[string]any), "update_timestamp")
		delete(c["amo"].(map[string]any), "update_timestamp")
		for _, l := range []string{"newsletters", "waitlists"} {
			for _, it := range c[l].([]any) {
				delete(it.(map[string]any), "update_timestamp")
			}
		}
	}
	require.Equal(t, before, after)
}

func TestPutErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	delete(body["email"].(obj), "email_id")
	r := a.do("PUT", "/ctms/"+id, body)
	item := errorAt(t, r, "body", "email", "email_id")
	require.Equal(t, "missing", item["type"])
	require.Equal(t, "Field required", item["msg"])
	a.noRows(id)

	body["email"].(obj)["email_id"] = uuid.NewString()
	requireDetail(t, a.do("PUT", "/ctms/"+id, body), http.StatusUnprocessableEntity, "email_id in path must match email_id in contact")
	a.noRows(id)

	// Unique conflicts: 409, and the contact is left as it was.
	otherID, other := newContact()
	other["email"].(obj)["basket_token"] = uuid.NewString()
	other["fxa"] = obj{"fxa_id": "fxa-" + otherID}
	other["mofo"] = obj{"mofo_email_id": "mofo-" + otherID}
	a.create(other)
	mineID, mine := newContact()
	mine["newsletters"] = arr{obj{"name": "n"}}
	a.create(mine)
	before := a.get(mineID)
	for name, mutate := range map[string]func(b obj){
		"primary_email": func(b obj) {
			b["email"].(obj)["primary_email"] = strings.ToLower(other["email"].(obj)["primary_email"].(string))
		},
		"basket_token":  func(b obj) { b["email"].(obj)["basket_token"] = other["email"].(obj)["basket_token"] },
		"fxa_id":        func(b obj) { b["fxa"] = obj{"fxa_id": "fxa-" + otherID} },
		"mofo_email_id": func(b obj) { b["mofo"] = obj{"mofo_email_id": "mofo-" + otherID} },
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			b := obj{"email": obj{"email_id": mineID, "primary_email": mine["email"].(obj)["primary_email"], "first_name": "changed"},
				"newsletters": arr{}}
			mutate(b)
			requireDetail(t, a.do("PUT", "/ctms/"+mineID, b), http.StatusConflict, "Contact with primary_email or basket_token already exists")
			require.Equal(t, before, a.get(mineID))
		})
	}
	// A PUT creating a new contact that collides.
	newID := uuid.NewString()
	requireDetail(t, a.do("PUT", "/ctms/"+newID, obj{"email": obj{"email_id": newID, "primary_email": other["email"].(obj)["primary_email"]}}),
		http.StatusConflict, "Contact with primary_email or basket_token already exists")
	a.noRows(newID)
}

func TestDeleteContact(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	email := body["email"].(obj)["primary_email"].(string)
	token := uuid.NewString()
	body["email"].(obj)["basket_token"] = token
	body["email"].(obj)["sfdc_id"] = "sf-" + id
	body["amo"] = obj{"user_id": "amo-" + id[:8]}
	body["fxa"] = obj{"fxa_id": "fxa-" + id, "primary_email": "fxa-" + email}
	body["mofo"] = obj{"mofo_email_id": "me-" + id, "mofo_contact_id": "mc-" + id}
	body["newsletters"] = arr{obj{"name": "a"}, obj{"name": "b"}}
	body["waitlists"] = arr{obj{"name": "w"}}
	a.create(body)
	otherID, other := newContact()
	a.create(other)

	sent := strings.ToUpper(email[:5]) + strings.ToLower(email[5:])
	r := a.do("DELETE", "/ctms/"+sent, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	list := r.List(t)
	require.Len(t, list, 1)
	require.Equal(t, identityKeys, keysOf(t, member(t, r.Body, 0)))
	require.Equal(t, obj{"email_id": id, "primary_email": email, "basket_token": token, "sfdc_id": "sf-" + id,
		"mofo_contact_id": "mc-" + id, "mofo_email_id": "me-" + id, "amo_user_id": "amo-" + id[:8],
		"fxa_id": "fxa-" + id, "fxa_primary_email": "fxa-" + email}, list[0])
	a.noRows(id)
	require.Equal(t, 1, a.rowsOf(otherID)["emails"], "other contacts are untouched")
	requireDetail(t, a.do("GET", "/ctms/"+id, nil), http.StatusNotFound, "Unknown email_id")
	requireDetail(t, a.do("DELETE", "/ctms/"+sent, nil), http.StatusNotFound, "email "+sent+" not found!")

	// A contact without groups: identity with nulls.
	id2, body2 := newContact()
	a.create(body2)
	r = a.do("DELETE", "/ctms/"+strings.ToUpper(body2["email"].(obj)["primary_email"].(string)), nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, arr{obj{"email_id": id2, "primary_email": body2["email"].(obj)["primary_email"], "basket_token": nil,
		"sfdc_id": nil, "mofo_contact_id": nil, "mofo_email_id": nil, "amo_user_id": nil, "fxa_id": nil,
		"fxa_primary_email": nil}}, r.JSON(t))
	a.noRows(id2)

	// Path escapes are decoded; a literal "+" stays a plus.
	for _, sent := range []string{"%s%%2B%s", "%s+%s"} {
		id4 := uuid.NewString()
		local, domain := "plus."+id4[:8], "@Example.com"
		a.create(obj{"email": obj{"email_id": id4, "primary_email": local + "+tag" + domain}})
		path := "/ctms/" + fmt.Sprintf(sent, local, "tag"+domain)
		r = a.do("DELETE", path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", path, r.Body)
		require.Equal(t, local+"+tag"+domain, at(t, r.JSON(t), 0, "primary_email"))
		a.noRows(id4)
	}

	// Only the primary email matches, not the fxa one.
	id3, body3 := newContact()
	fxaEmail := newEmail()
	body3["fxa"] = obj{"primary_email": fxaEmail}
	a.create(body3)
	requireDetail(t, a.do("DELETE", "/ctms/"+fxaEmail, nil), http.StatusNotFound, "email "+fxaEmail+" not found!")
	require.Equal(t, 1, a.rowsOf(id3)["emails"])
}

func TestWritesBumpUpdateTimestamp(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	a.setUpdated(old, id)
	got := a.get(id)
	require.Equal(t, "2020-01-01T00:00:00+00:00", at(t, got, "email", "update_timestamp"))
	r := a.do("PATCH", "/ctms/"+id, obj{})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	ts, err := time.Parse(time.RFC3339Nano, at(t, r.JSON(t), "email", "update_timestamp").(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), ts, time.Minute)
}

func TestJSONOutputFormat(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	name := "Jé<b>&amp;\u2028" + `\u003c"`
	body["email"].(obj)["first_name"] = name
	for _, r := range []*response{a.do("POST", "/ctms", body), a.do("GET", "/ctms/"+id, nil), a.do("GET", "/ctms?email_id="+id, nil)} {
		require.False(t, bytes.HasSuffix(r.Body, []byte("\n")), "compact JSON without a trailing newline")
		require.NotContains(t, strings.ReplaceAll(string(r.Body), name, ""), " ", "no spaces between tokens")
		require.Contains(t, string(r.Body), `"first_name":"Jé<b>&amp;`+"\u2028"+`\\u003c\""`, "no HTML or non-ASCII escapes")
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}
}

// TestReadsStoredNulls: NULLs in columns the API treats as required read as the
// field's default (docs/migrating-from-python.md), in every read path.
func TestReadsStoredNulls(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["email"].(obj)["double_opt_in"] = true
	body["amo"] = obj{"user": true, "email_opt_in": true, "username": "u"}
	body["fxa"] = obj{"account_deleted": true, "fxa_id": "f-" + id}
	body["newsletters"] = arr{obj{"name": "n", "subscribed": false, "format": "T"}}
	a.create(body)
	a.exec(`UPDATE emails SET email_format = NULL, double_opt_in = NULL, has_opted_out_of_email = NULL WHERE email_id = $1`, id)
	a.exec(`UPDATE amo SET "user" = NULL, email_opt_in = NULL WHERE email_id = $1`, id)
	a.exec(`UPDATE fxa SET account_deleted = NULL WHERE email_id = $1`, id)
	a.exec(`UPDATE newsletters SET subscribed = NULL, format = NULL WHERE email_id = $1`, id)
	got := a.get(id)
	require.Equal(t, "H", at(t, got, "email", "email_format"))
	require.Equal(t, false, at(t, got, "email", "double_opt_in"))
	require.Equal(t, false, at(t, got, "email", "has_opted_out_of_email"))
	require.Equal(t, false, at(t, got, "amo", "user"))
	require.Equal(t, false, at(t, got, "amo", "email_opt_in"))
	require.Equal(t, false, at(t, got, "fxa", "account_deleted"))
	require.Equal(t, true, at(t, got, "newsletters", 0, "subscribed"))
	require.Equal(t, "H", at(t, got, "newsletters", 0, "format"))
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms?email_id="+id, nil).Status)
	ts := window()
	a.setUpdated(ts, id)
	p := a.updates("start=" + iso(ts) + "&end=" + iso(ts.Add(time.Second)))
	require.Equal(t, []string{id}, p.ids)
	// PATCH and PUT work on such a contact.
	a.patch(id, obj{"newsletters": arr{obj{"name": "n", "lang": "fr"}}})
	require.Equal(t, http.StatusCreated, a.do("PUT", "/ctms/"+id, a.get(id)).Status)
}
