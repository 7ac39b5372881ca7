package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// writes are the three body-carrying operations on a fresh contact id.
func writes(id string) []struct{ method, path string } {
	return []struct{ method, path string }{{"POST", "/ctms"}, {"PUT", "/ctms/" + id}, {"PATCH", "/ctms/" + id}}
}

func TestMalformedJSONBeforeAuthentication(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	for _, w := range writes(id) {
		for name, opt := range map[string]reqOpt{"no credentials": noAuth(), "bad token": withHeader("Authorization", "Bearer x"), "valid token": func(*http.Request) {}} {
			t.Run(w.method+"/"+name, func(t *testing.T) {
				a := a.on(t)
				r := a.do(w.method, w.path, `{"email": }`, opt)
				require.Equal(t, []map[string]any{{"type": "json_invalid", "loc": arr{"body", float64(10)}, "msg": "JSON decode error",
					"input": obj{}, "ctx": obj{"error": "Expecting value"}}}, validationErrors(t, r))
				r = a.do(w.method, w.path, `{"email": {"primary_email": "x"}`, opt)
				require.Equal(t, "json_invalid", errorAt(t, r, "body", float64(32))["type"])
				r = a.do(w.method, w.path, `{"email": {"first_name": "é"}, x}`, opt)
				require.Equal(t, "json_invalid", errorAt(t, r, "body", float64(31))["type"], "the position counts characters")
			})
		}
	}
	a.noRows(id)
}

func TestUnusableBodies(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, valid := newContact()
	bodies := []struct {
		name        string
		body        any
		contentType string
	}{
		{"empty", "", "application/json"},
		{"empty without content type", "", ""},
		{"form encoded", "email=x", "application/x-www-form-urlencoded"},
		{"multipart", "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b"},
		{"JSON as text/plain", mustJSON(t, valid), "text/plain"},
		{"JSON array", `[]`, "application/json"},
		{"JSON string", `"x"`, "application/json"},
		{"JSON null", `null`, "application/json"},
	}
	for _, w := range writes(id) {
		for _, b := range bodies {
			t.Run(w.method+"/"+b.name, func(t *testing.T) {
				a := a.on(t)
				ct := withHeader("Content-Type", b.contentType)
				if b.contentType == "" {
					ct = func(r *http.Request) { r.Header.Del("Content-Type") }
				}
				r := a.do(w.method, w.path, b.body, ct)
				errs := validationErrors(t, r)
				require.Equal(t, "body", errs[0]["loc"].([]any)[0], "%s", r.Body)
				// Authentication comes first for everything but malformed JSON.
				r = a.do(w.method, w.path, b.body, ct, noAuth())
				requireDetail(t, r, http.StatusUnauthorized, "Not authenticated")
			})
		}
	}
	a.noRows(id)
	// JSON without a content type is parsed.
	r := a.do("POST", "/ctms", mustJSON(t, valid), func(r *http.Request) { r.Header.Del("Content-Type") })
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = a.do("PATCH", "/ctms/"+id, `{"email":{"first_name":"x"}}`, withHeader("Content-Type", "application/merge-patch+json"))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	body["email"].(obj)["unsubscribe_reason"] = strings.Repeat("x", 1<<20)
	for _, w := range writes(id) {
		r := a.do(w.method, w.path, body)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "%s", r.Body)
		require.IsType(t, "", r.Object(t)["detail"])
	}
	a.noRows(id)
	// Just under the limit is fine.
	body["email"].(obj)["unsubscribe_reason"] = strings.Repeat("x", 1<<20-200)
	r := a.do("POST", "/ctms", body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
}

func TestMaxLengths(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	// unique pads a value to n characters keeping it unique (for unique columns).
	unique := func(n int) string { u := uuid.NewString(); return u + strRepeat(n-len(u)) }
	fields := []struct {
		group, field string
		max          int
	}{
		{"email", "primary_email", 255}, {"email", "sfdc_id", 255}, {"email", "first_name", 255},
		{"email", "last_name", 255}, {"email", "mailing_country", 255}, {"email", "email_lang", 5},
		{"amo", "add_on_ids", 500}, {"amo", "display_name", 255}, {"amo", "language", 5},
		{"amo", "location", 255}, {"amo", "profile_url", 40}, {"amo", "user_id", 40}, {"amo", "username", 100},
		{"fxa", "fxa_id", 50}, {"fxa", "primary_email", 255}, {"fxa", "created_date", 50}, {"fxa", "lang", 255},
		{"fxa", "first_service", 50}, {"mofo", "mofo_email_id", 255}, {"mofo", "mofo_contact_id", 255},
		{"newsletters", "name", 255}, {"newsletters", "lang", 5}, {"waitlists", "name", 255},
	}
	for _, f := range fields {
		t.Run(f.group+"."+f.field, func(t *testing.T) {
			a := a.on(t)
			t.Parallel()
			value := func(n int) string {
				if n >= 36 {
					return unique(n)
				}
				return strRepeat(n)
			}
			put := func(body obj, v string) obj {
				switch f.group {
				case "email":
					body["email"].(obj)[f.field] = v
				case "newsletters", "waitlists":
					item := obj{"name": "n"}
					item[f.field] = v
					body[f.group] = arr{item}
				default:
					body[f.group] = obj{f.field: v}
				}
				return body
			}
			loc := arr{"body", f.group, f.field}
			if f.group == "newsletters" || f.group == "waitlists" {
				loc = arr{"body", f.group, float64(0), f.field}
			}
			tooLong := value(f.max + 1)
			want := obj{"type": "string_too_long", "loc": loc, "msg": fmt.Sprintf("String should have at most %d characters", f.max),
				"input": tooLong, "ctx": obj{"max_length": float64(f.max)}}

			id, body := newContact()
			require.Equal(t, want, errorAt(t, a.do("POST", "/ctms", put(body, tooLong)), loc...))
			require.Equal(t, want, errorAt(t, a.do("PUT", "/ctms/"+id, put(body, tooLong)), loc...))
			a.noRows(id)

			// The longest allowed value is stored (no database error).
			ok := value(f.max)
			r := a.do("POST", "/ctms", put(body, ok))
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			patch := put(obj{"email": obj{}}, tooLong)
			if f.group != "email" {
				delete(patch, "email")
			}
			before := a.get(id)
			// PATCH groups and lists are unions: pydantic names the alternative in loc.
			switch f.group {
			case "newsletters":
				want["loc"] = arr{"body", f.group, "list[NewsletterBase]", float64(0), f.field}
			case "waitlists":
				want["loc"] = arr{"body", f.group, "list[function-after[check_fields(), WaitlistBase]]", float64(0), f.field}
			case "amo":
				want["loc"] = arr{"body", f.group, "AddOnsBase", f.field}
			case "fxa":
				want["loc"] = arr{"body", f.group, "FirefoxAccountsBase", f.field}
			case "mofo":
				want["loc"] = arr{"body", f.group, "MozillaFoundationBase", f.field}
			}
			r = a.do("PATCH", "/ctms/"+id, patch)
			require.Equal(t, want, errorAt(t, r, want["loc"].([]any)...))
			if f.group != "email" {
				literal := validationErrors(t, r)[0]
				if f.group == "newsletters" || f.group == "waitlists" {
					literal = validationErrors(t, r)[1]
				}
				require.Equal(t, "literal_error", literal["type"], "%s", r.Body)
			}
			require.Equal(t, before, a.get(id))
		})
	}
}

func TestFieldValidation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tests := []struct {
		name string
		body func(b obj)
		loc  arr
		want obj // expected entry without loc; nil: only the loc is checked
	}{
		{"missing email", func(b obj) { delete(b, "email") }, arr{"body", "email"}, obj{"type": "missing", "msg": "Field required"}},
		{"missing primary_email", func(b obj) { delete(b["email"].(obj), "primary_email") }, arr{"body", "email", "primary_email"},
			obj{"type": "missing", "msg": "Field required"}},
		{"empty primary_email", func(b obj) { b["email"].(obj)["primary_email"] = "" }, arr{"body", "email", "primary_email"},
			obj{"type": "string_too_short", "msg": "String should have at least 1 character", "input": "", "ctx": obj{"min_length": float64(1)}}},
		{"null primary_email", func(b obj) { b["email"].(obj)["primary_email"] = nil }, arr{"body", "email", "primary_email"},
			obj{"type": "string_type", "msg": "Input should be a valid string", "input": nil}},
		{"number as string", func(b obj) { b["email"].(obj)["first_name"] = 42 }, arr{"body", "email", "first_name"},
			obj{"type": "string_type", "msg": "Input should be a valid string", "input": float64(42)}},
		{"email_format", func(b obj) { b["email"].(obj)["email_format"] = "X" }, arr{"body", "email", "email_format"},
			obj{"type": "literal_error", "msg": "Input should be 'H', 'T', 'N' or ''", "input": "X", "ctx": obj{"expected": "'H', 'T', 'N' or ''"}}},
		{"newsletter format", func(b obj) { b["newsletters"] = arr{obj{"name": "n", "format": "N"}} }, arr{"body", "newsletters", float64(0), "format"},
			obj{"type": "literal_error", "msg": "Input should be 'H' or 'T'", "input": "N", "ctx": obj{"expected": "'H' or 'T'"}}},
		{"newsletter lang too short", func(b obj) { b["newsletters"] = arr{obj{"name": "n", "lang": "e"}} }, arr{"body", "newsletters", float64(0), "lang"},
			obj{"type": "string_too_short", "msg": "String should have at least 2 characters", "input": "e", "ctx": obj{"min_length": float64(2)}}},
		{"newsletter without name", func(b obj) { b["newsletters"] = arr{obj{"subscribed": true}} }, arr{"body", "newsletters", float64(0), "name"},
			obj{"type": "missing", "msg": "Field required"}},
		{"newsletters null", func(b obj) { b["newsletters"] = nil }, arr{"body", "newsletters"}, nil},
		{"waitlists null", func(b obj) { b["waitlists"] = nil }, arr{"body", "waitlists"}, nil},
		{"newsletters object", func(b obj) { b["newsletters"] = obj{"name": "n"} }, arr{"body", "newsletters"}, nil},
		{"basket_token", func(b obj) { b["email"].(obj)["basket_token"] = "nope" }, arr{"body", "email", "basket_token"}, nil},
		{"bad email_id", func(b obj) { b["email"].(obj)["email_id"] = "nope" }, arr{"body", "email", "email_id"}, nil},
		{"amo last_login", func(b obj) { b["amo"] = obj{"last_login": "yesterday"} }, arr{"body", "amo", "last_login"}, nil},
		{"boolean", func(b obj) { b["email"].(obj)["double_opt_in"] = "maybe" }, arr{"body", "email", "double_opt_in"}, nil},
		{"amo list", func(b obj) { b["amo"] = arr{} }, arr{"body", "amo"}, nil},
		{"duplicate newsletter", func(b obj) { b["newsletters"] = arr{obj{"name": "n"}, obj{"name": "n", "subscribed": false}} },
			arr{"body", "newsletters", float64(1), "name"}, obj{"type": "value_error"}},
		{"duplicate waitlist", func(b obj) { b["waitlists"] = arr{obj{"name": "w"}, obj{"name": "w"}} },
			arr{"body", "waitlists", float64(1), "name"}, obj{"type": "value_error"}},
	}
	for _, tc := range tests {
		for _, method := range []string{"POST", "PUT"} {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				a := a.on(t)
				id, body := newContact()
				tc.body(body)
				path := "/ctms"
				if method == "PUT" {
					path += "/" + id
					if tc.name == "bad email_id" {
						path = "/ctms/" + uuid.NewString()
					}
				}
				item := errorAt(t, a.do(method, path, body), tc.loc...)
				for k, v := range tc.want {
					require.Equal(t, v, item[k], k)
				}
				a.noRows(id)
			})
		}
	}
}

func TestSourceURLs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	valid := map[string]string{
		"http://localhost:8888/v1":      "http://localhost:8888/v1",
		"http://Example.com":            "http://example.com/",
		"HTTPS://WWW.Example.com:443/a": "https://www.example.com/a",
		"  https://example.com/x y  ":   "https://example.com/x%20y",
		"foo:bar":                       "foo:bar",
		"mailto:a@b.c":                  "mailto:a@b.c",
		"https://bücher.example/":       "https://xn--bcher-kva.example/",
	}
	for in, want := range valid {
		t.Run("valid "+in, func(t *testing.T) {
			a := a.on(t)
			id, body := newContact()
			body["newsletters"] = arr{obj{"name": "n", "source": in}}
			body["waitlists"] = arr{obj{"name": "w", "source": in}}
			got := a.create(body)
			require.Equal(t, want, at(t, got, "newsletters", 0, "source"))
			require.Equal(t, want, at(t, got, "waitlists", 0, "source"))
			// Re-posting the same input is idempotent: the normalised forms compare equal.
			require.Equal(t, http.StatusOK, a.do("POST", "/ctms", body).Status)
			got = a.patch(id, obj{"newsletters": arr{obj{"name": "m", "source": in}}, "waitlists": arr{obj{"name": "w", "source": in}}})
			require.Equal(t, want, at(t, got, "newsletters", 0, "source"))
			require.Equal(t, want, at(t, got, "waitlists", 0, "source"))
		})
	}
	for _, in := range []string{"foobar", "", "*&^", "//x.com", "http://"} {
		t.Run("invalid "+in, func(t *testing.T) {
			a := a.on(t)
			for _, list := range []string{"newsletters", "waitlists"} {
				id, body := newContact()
				body[list] = arr{obj{"name": "n", "source": in}}
				item := errorAt(t, a.do("POST", "/ctms", body), "body", list, float64(0), "source")
				require.Equal(t, "url_parsing", item["type"])
				require.Equal(t, in, item["input"])
				why := item["ctx"].(map[string]any)["error"].(string)
				require.Equal(t, "Input should be a valid URL, "+why, item["msg"])
				if in == "foobar" {
					require.Equal(t, "relative URL without a base", why)
				}
				a.noRows(id)
			}
		})
	}
	id, body := newContact()
	body["newsletters"] = arr{obj{"name": "n", "source": 42}}
	item := errorAt(t, a.do("POST", "/ctms", body), "body", "newsletters", float64(0), "source")
	require.Equal(t, obj{"type": "url_type", "loc": arr{"body", "newsletters", float64(0), "source"},
		"msg": "URL input should be a string or URL", "input": float64(42)}, item)
	a.noRows(id)
	// The reference example: a wrongly typed source in PATCH.
	a.create(obj{"email": obj{"email_id": id, "primary_email": newEmail()}})
	r := a.do("PATCH", "/ctms/"+id, obj{"waitlists": arr{obj{"name": "future-tech", "source": 42}}})
	require.Equal(t, []map[string]any{
		{"type": "url_type", "loc": arr{"body", "waitlists", "list[function-after[check_fields(), WaitlistBase]]", float64(0), "source"},
			"msg": "URL input should be a string or URL", "input": float64(42)},
		{"type": "literal_error", "loc": arr{"body", "waitlists", "literal['UNSUBSCRIBE']"}, "msg": "Input should be 'UNSUBSCRIBE'",
			"input": arr{obj{"name": "future-tech", "source": float64(42)}}, "ctx": obj{"expected": "'UNSUBSCRIBE'"}},
	}, validationErrors(t, r))
}

func TestWaitlistFieldRules(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	long := strings.Repeat("x", 101)
	valid := []obj{
		{"name": "a", "fields": obj{"foo": "bar", "geo": "br"}},
		{"name": "vpn", "fields": obj{"geo": "b", "platform": ""}},
		{"name": "vpn", "fields": obj{"geo": nil, "platform": strings.Repeat("x", 100)}},
		{"name": "relay", "fields": obj{"geo": strings.Repeat("é", 100)}},
		{"name": "relay-phone", "fields": obj{"foo": "bar", "n": 1, "l": arr{1, 2}}},
		{"name": "a"},
		{"name": "a", "fields": obj{}},
	}
	for i, w := range valid {
		t.Run(fmt.Sprintf("valid %d", i), func(t *testing.T) {
			a := a.on(t)
			_, body := newContact()
			body["waitlists"] = arr{w}
			got := a.create(body)
			fields := w["fields"]
			if fields == nil {
				fields = obj{}
			}
			require.JSONEq(t, mustJSON(t, fields), mustJSON(t, at(t, got, "waitlists", 0, "fields")))
		})
	}
	invalid := []struct {
		item obj
		loc  arr
		typ  string
	}{
		{obj{"name": ""}, arr{"name"}, "string_too_short"},
		{obj{"name": nil}, arr{"name"}, "string_type"},
		{obj{"name": "a", "fields": nil}, arr{"fields"}, "dict_type"},
		{obj{"name": "a", "fields": "foo"}, arr{"fields"}, "dict_type"},
		{obj{"name": "a", "fields": arr{obj{}}}, arr{"fields"}, "dict_type"},
		{obj{"name": "a", "fields": obj{"geo": long}}, arr{"geo"}, "string_too_long"},
		{obj{"name": "a", "fields": obj{"platform": long}}, arr{"platform"}, "string_too_long"},
		{obj{"name": "vpn", "fields": obj{"geo": long}}, arr{"geo"}, "string_too_long"},
		{obj{"name": "relay", "fields": obj{"geo": long}}, arr{"geo"}, "string_too_long"},
		{obj{"name": "a", "fields": obj{"geo": 12}}, arr{"geo"}, "string_type"},
		{obj{"name": "a", "source": ""}, arr{"source"}, "url_parsing"},
		{obj{"name": "relay", "fields": obj{"foo": "bar"}}, arr{"foo"}, "extra_forbidden"},
		{obj{"name": "relay", "fields": obj{"geo": "fr", "platform": "ios"}}, arr{"platform"}, "extra_forbidden"},
		{obj{"name": "vpn", "fields": obj{"geo": "b", "platform": "win64", "extra": "boom"}}, arr{"extra"}, "extra_forbidden"},
	}
	for i, tc := range invalid {
		t.Run(fmt.Sprintf("invalid %d %v", i, tc.loc), func(t *testing.T) {
			a := a.on(t)
			id, body := newContact()
			body["waitlists"] = arr{obj{"name": "ok"}, tc.item}
			loc := append(arr{"body", "waitlists", float64(1)}, tc.loc...)
			for _, w := range writes(id)[:2] {
				item := errorAt(t, a.do(w.method, w.path, body), loc...)
				require.Equal(t, tc.typ, item["type"], "%v", item)
			}
			a.noRows(id)
		})
	}
	// extra_forbidden entries echo the value (the msg may name the allowed fields).
	id, body := newContact()
	body["waitlists"] = arr{obj{"name": "relay", "fields": obj{"foo": "bar"}}}
	item := errorAt(t, a.do("POST", "/ctms", body), "body", "waitlists", float64(0), "foo")
	require.True(t, strings.HasPrefix(item["msg"].(string), "Extra inputs are not permitted"), item["msg"])
	delete(item, "msg")
	require.Equal(t, obj{"type": "extra_forbidden", "loc": arr{"body", "waitlists", float64(0), "foo"}, "input": "bar"}, item)
	a.noRows(id)
}

// The trailing-slash 307 is a relative reference: the Host header, which the
// client chooses, never makes it point elsewhere (docs/migrating-from-python.md),
// and extra leading slashes never make it a network-path reference (//host).
func TestTrailingSlashRedirectIgnoresHost(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	evilHost := func(r *http.Request) { r.Host = "evil.example" }
	r := a.do("GET", "/updates/?start=2020-01-01", nil, evilHost, withHeader("X-Forwarded-Host", "evil.example"))
	require.Equal(t, http.StatusTemporaryRedirect, r.Status, "%s", r.Body)
	require.Equal(t, "/updates?start=2020-01-01", r.Header.Get("Location"))
	// Starlette strips "//updates/" to "//updates", which no route matches: 404,
	// never a redirect to a network-path reference (//updates).
	r = a.do("GET", "//updates/", nil, evilHost)
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	require.Empty(t, r.Header.Get("Location"))
	r = a.do("GET", "/ctms/", nil, evilHost)
	require.Equal(t, http.StatusTemporaryRedirect, r.Status, "%s", r.Body)
	require.Equal(t, "/ctms", r.Header.Get("Location"))
}

func TestRouting(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	r := a.do("GET", "/updates/?start=2020-01-01&limit=5", nil)
	require.Equal(t, http.StatusTemporaryRedirect, r.Status, "%s", r.Body)
	require.Equal(t, "/updates?start=2020-01-01&limit=5", r.Header.Get("Location"))
	require.Empty(t, r.Body)
	r = a.do("GET", "/ctms/?primary_email=x", nil)
	require.Equal(t, http.StatusTemporaryRedirect, r.Status)
	require.Equal(t, "/ctms?primary_email=x", r.Header.Get("Location"))

	for _, p := range []string{"/nope", "/ctms/a/b", "/identity", "/identity/", "/updates/x"} {
		t.Run("404 "+p, func(t *testing.T) {
			a := a.on(t)
			requireDetail(t, a.do("GET", p, nil), http.StatusNotFound, "Not Found")
		})
	}
	for _, m := range []struct{ method, path string }{
		{"POST", "/updates"}, {"DELETE", "/ctms"}, {"PUT", "/ctms"}, {"POST", "/ctms/" + uuid.NewString()},
		{"HEAD", "/ctms/" + uuid.NewString()}, {"HEAD", "/updates"}, {"HEAD", "/identities"},
		{"GET", "/token"}, {"POST", "/identities"},
	} {
		t.Run("405 "+m.method+" "+m.path, func(t *testing.T) {
			a := a.on(t)
			r := a.do(m.method, m.path, nil)
			require.Equal(t, http.StatusMethodNotAllowed, r.Status, "%s", r.Body)
			if m.method != "HEAD" {
				require.Equal(t, obj{"detail": "Method Not Allowed"}, r.Object(t))
			}
			require.NotEmpty(t, r.Header.Get("Allow"))
		})
	}
}

func TestLaxBooleans(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for in, want := range map[any]bool{
		true: true, false: false, 1: true, 0: false, 1.0: true, "true": true, "False": false, "t": true, "F": false,
		"yes": true, "NO": false, "y": true, "n": false, "on": true, "Off": false, "1": true, "0": false,
	} {
		t.Run(fmt.Sprint(in), func(t *testing.T) {
			a := a.on(t)
			id, body := newContact()
			body["email"].(obj)["double_opt_in"] = in
			body["mofo"] = obj{"mofo_relevant": in, "mofo_contact_id": "c"}
			body["newsletters"] = arr{obj{"name": "n", "subscribed": in}}
			body["waitlists"] = arr{obj{"name": "w", "subscribed": in, "fields": obj{"z": "yes", "a": 1, "subscribed": "no"}}}
			got := a.create(body)
			require.Equal(t, want, at(t, got, "email", "double_opt_in"))
			require.Equal(t, want, at(t, got, "mofo", "mofo_relevant"))
			require.Equal(t, want, at(t, got, "newsletters", 0, "subscribed"))
			require.Equal(t, want, at(t, got, "waitlists", 0, "subscribed"))
			require.Equal(t, obj{"z": "yes", "a": float64(1), "subscribed": "no"}, at(t, got, "waitlists", 0, "fields"))
			got = a.patch(id, obj{"amo": obj{"user": in, "username": "u"}, "email": obj{"has_opted_out_of_email": in},
				"newsletters": arr{obj{"name": "m", "subscribed": in}}})
			require.Equal(t, want, at(t, got, "amo", "user"))
			require.Equal(t, want, at(t, got, "email", "has_opted_out_of_email"))
		})
	}
	// Coercion leaves the rest of the body alone: waitlist fields keep their order and values.
	id := uuid.NewString()
	r := a.do("POST", "/ctms", `{"email":{"email_id":"`+id+`","primary_email":"`+newEmail()+`","double_opt_in":"yes"},`+
		`"waitlists":[{"name":"w","subscribed":"on","fields":{"z":"yes","a":1,"subscribed":"no","<b>":"é"}}]}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, []string{"z", "a", "subscribed", "<b>"}, keysOf(t, member(t, a.do("GET", "/ctms/"+id, nil).Body, "waitlists", 0, "fields")))
	require.Equal(t, obj{"z": "yes", "a": float64(1), "subscribed": "no", "<b>": "é"}, at(t, r.JSON(t), "waitlists", 0, "fields"))
	require.Equal(t, true, at(t, r.JSON(t), "waitlists", 0, "subscribed"))
	r = a.do("PATCH", "/ctms/"+id, `{"waitlists":[{"name":"w","fields":{"y":true,"b":[2,1],"x":{"k":1,"c":2}}},{"name":"v","fields":{"platform":"p","geo":"g"}}]}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	got := a.do("GET", "/ctms/"+id, nil).Body
	require.Equal(t, []string{"platform", "geo"}, keysOf(t, member(t, got, "waitlists", 0, "fields")))
	require.Equal(t, []string{"y", "b", "x"}, keysOf(t, member(t, got, "waitlists", 1, "fields")))
	require.Equal(t, []string{"k", "c"}, keysOf(t, member(t, got, "waitlists", 1, "fields", "x")))
	r = a.do("PUT", "/ctms/"+id, `{"email":{"email_id":"`+id+`","primary_email":"`+newEmail()+`"},"waitlists":[{"name":"w","fields":{"z":1,"a":2}}]}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, []string{"z", "a"}, keysOf(t, member(t, r.Body, "waitlists", 0, "fields")))

	// pydantic: a string or number it cannot read as a boolean is bool_parsing,
	// another type bool_type.
	for in, typ := range map[any]string{2: "bool_parsing", "maybe": "bool_parsing", "": "bool_parsing", "truee": "bool_parsing", nil: "bool_type"} {
		item := errorAt(t, a.do("POST", "/ctms", obj{"email": obj{"primary_email": newEmail(), "double_opt_in": in}}), "body", "email", "double_opt_in")
		require.Equal(t, typ, item["type"], "%v", in)
	}
	for _, in := range []any{arr{}, obj{}} {
		item := errorAt(t, a.do("POST", "/ctms", obj{"email": obj{"primary_email": newEmail(), "double_opt_in": in}}), "body", "email", "double_opt_in")
		require.Equal(t, "bool_type", item["type"], "%v", in)
	}
	// The /updates filter too.
	for _, v := range []string{"yes", "on", "t", "Y", "no", "off", "f", "N", "TRUE", "False"} {
		require.Equal(t, http.StatusOK, a.do("GET", "/updates?start=2000-01-01&end=2000-01-02&mofo_relevant="+v, nil).Status, v)
	}
	require.Equal(t, "bool_parsing", errorAt(t, a.do("GET", "/updates?start=2000-01-01&mofo_relevant=maybe", nil), "query", "mofo_relevant", "bool")["type"])
}
