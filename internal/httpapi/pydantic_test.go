package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The tests of this file pin what the Python CTMS answers where CTMS-Go used
// to answer otherwise (issue 20). Each case names the pydantic, FastAPI or
// Starlette rule it follows; the expected items are built from those rules
// (https://docs.pydantic.dev/latest/errors/validation_errors/), never copied
// from our own output.

// uuidItem is pydantic's uuid_parsing: "Input should be a valid UUID, {error}"
// with ctx {"error": the uuid crate's reason}.
func uuidItem(loc []any, input, reason string) map[string]any {
	return obj{"type": "uuid_parsing", "loc": loc, "msg": "Input should be a valid UUID, " + reason,
		"input": input, "ctx": obj{"error": reason}}
}

func TestUUIDsAsPydanticParsesThem(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	cases := []struct {
		name, path string
		want       map[string]any
	}{
		// Uuid::parse_str takes no surrounding spaces (google/uuid.Parse took any
		// two characters around 36).
		{"spaced path id", "/ctms/%20" + id + "%20", uuidItem(arr{"path", "email_id"}, " "+id+" ", "invalid character: found ` ` at 1")},
		{"bad character", "/ctms/g" + id[1:], uuidItem(arr{"path", "email_id"}, "g"+id[1:], "invalid character: found `g` at 1")},
		{"too short", "/ctms/1", uuidItem(arr{"path", "email_id"}, "1", "invalid length: expected length 32 for simple format, found 1")},
		{"group length", "/identity/" + id[:35], uuidItem(arr{"path", "email_id"}, id[:35], "invalid group length in group 4: expected 12, found 11")},
		{"query", "/ctms?basket_token=" + id[:8], uuidItem(arr{"query", "basket_token"}, id[:8], "invalid length: expected length 32 for simple format, found 8")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, []map[string]any{c.want}, validationErrors(t, a.on(t).do("GET", c.path, nil)))
		})
	}
	t.Run("spaced basket_token in a body", func(t *testing.T) {
		nid, b := newContact()
		token := " " + uuid.NewString() + " "
		b["email"].(obj)["basket_token"] = token
		r := a.on(t).do("POST", "/ctms", b)
		require.Equal(t, []map[string]any{uuidItem(arr{"body", "email", "basket_token"}, token, "invalid character: found ` ` at 1")},
			validationErrors(t, r))
		a.noRows(nid)
	})
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status)
}

// FastAPI answers a body json.loads refuses with one item
// {"type":"json_invalid","loc":["body",e.pos],"msg":"JSON decode error",
// "input":{},"ctx":{"error":e.msg}}: e is CPython's JSONDecodeError, whose msg
// and pos (in characters) are the C scanner's (Python 3.12): "Expecting value"
// where no value starts, "Expecting ',' delimiter" / "Expecting ':' delimiter"
// where the delimiter should be, "Expecting property name enclosed in double
// quotes" where a key should start (after a trailing comma too), "Extra data"
// after the document, "Unterminated string starting at" its quote, "Invalid
// \escape" at the backslash. A body of whitespace is not empty: json.loads
// fails on it at its end.
func TestBodiesAsPythonsJSONDecoderRefusesThem(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	cases := []struct {
		body string
		pos  int
		msg  string
	}{
		{`{"email": }`, 10, "Expecting value"},
		{"  \n", 3, "Expecting value"},
		{`{"email": {"primary_email": "x"}`, 32, "Expecting ',' delimiter"},
		{`{"email": {"primary_email": "é"} "amo": {}}`, 33, "Expecting ',' delimiter"},
		{`{"email" {}}`, 9, "Expecting ':' delimiter"},
		{`{email: {}}`, 1, "Expecting property name enclosed in double quotes"},
		{`{"email": {},}`, 13, "Expecting property name enclosed in double quotes"},
		{`{} x`, 3, "Extra data"},
		{`{"email": "x`, 10, "Unterminated string starting at"},
		{`{"a": "\x"}`, 7, "Invalid \\escape"},
		{"{\"a\": \"\t\"}", 7, "Invalid control character at"},
		{`[1 2]`, 3, "Expecting ',' delimiter"},
		{`{"a": -}`, 6, "Expecting value"},
	}
	for _, w := range writes(id) {
		for _, c := range cases {
			t.Run(w.method+"/"+c.body, func(t *testing.T) {
				r := a.on(t).do(w.method, w.path, c.body, noAuth()) // before authentication
				require.Equal(t, []map[string]any{{"type": "json_invalid", "loc": arr{"body", float64(c.pos)},
					"msg": "JSON decode error", "input": obj{}, "ctx": obj{"error": c.msg}}}, validationErrors(t, r))
			})
		}
	}
	a.noRows(id)
}

// json.loads decodes the bytes first (bytes.decode, after detect_encoding):
// invalid UTF-8 fails there, a UnicodeDecodeError FastAPI answers 400 "There
// was an error parsing the body", before any JSON syntax is looked at, also
// before authentication.
func TestBodyNotUTF8IsABadRequest(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	for _, w := range writes(id) {
		for _, body := range []string{"{\"email\": \"\xff\"", "\xff", "{\"email\": {\"primary_email\": \"\xc3\"}}", "{\"a\": \x80}"} {
			r := a.on(t).do(w.method, w.path, body, noAuth())
			require.Equal(t, http.StatusBadRequest, r.Status, "%s %q: %s", w.method, body, r.Body)
			require.Equal(t, obj{"detail": "There was an error parsing the body"}, r.Object(t))
		}
	}
	a.noRows(id)
}

// Python's json.loads decodes bytes that start with a UTF-8 byte-order mark
// as utf-8-sig (json.detect_encoding), so such a body is a contact.
func TestBodyWithByteOrderMark(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	r := a.do("POST", "/ctms", append([]byte("\uFEFF"), mustJSON(t, body)...))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = a.do("PATCH", "/ctms/"+id, "\uFEFF"+`{"email": {"first_name": "Bom"}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "Bom", at(t, r.JSON(t), "email", "first_name"))
}

// FastAPI validates a JSON null body as a required body that is absent:
// {"type":"missing","loc":["body"],"msg":"Field required","input":null}.
func TestNullBodyIsMissing(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	for _, w := range writes(id) {
		r := a.do(w.method, w.path, "null")
		require.Equal(t, []map[string]any{{"type": "missing", "loc": arr{"body"}, "msg": "Field required", "input": nil}},
			validationErrors(t, r), w.method)
	}
	a.noRows(id)
}

// /updates' parameters in the Python CTMS: start: datetime; end:
// Union[datetime, Literal[”]]; limit: Union[int, Literal[”]]; mofo_relevant:
// Union[bool, Literal[”]]. pydantic lists a union's errors one per member,
// tagged (loc [..., "int"], [..., "literal[”]"]); a literal's is
// literal_error "Input should be ”" with ctx.expected "”". A datetime in lax
// mode that speedate cannot read is retried as a date, and the date's reason
// is reported: datetime_from_date_parsing "Input should be a valid datetime or
// date, {error}" with ctx.error. speedate takes "T", "t", "_" or a space
// between date and time, and "Z" or "z" for UTC.
func TestUpdatesParametersAsPydantic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	dtItem := func(param, input, why string) map[string]any {
		return obj{"type": "datetime_from_date_parsing", "loc": arr{"query", param},
			"msg": "Input should be a valid datetime or date, " + why, "input": input, "ctx": obj{"error": why}}
	}
	literal := func(param, input string) map[string]any {
		return obj{"type": "literal_error", "loc": arr{"query", param, "literal['']"}, "msg": "Input should be ''",
			"input": input, "ctx": obj{"expected": "''"}}
	}
	tagged := func(item map[string]any, tag string) map[string]any {
		item["loc"] = append(item["loc"].([]any), tag)
		return item
	}
	for start, echo := range map[string]string{"2099-01-01t00:00:00z": "2099-01-01T00:00:00Z",
		"2099-01-01_00:00": "2099-01-01T00:00:00", "2099-01-01%2000:00:00%2B0100": "2099-01-01T00:00:00+01:00"} {
		r := a.do("GET", "/updates?start="+start, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", start, r.Body)
		require.Equal(t, echo, r.Object(t)["start"], start)
	}
	cases := []struct {
		query string
		want  []map[string]any
	}{
		{"start=foo", []map[string]any{dtItem("start", "foo", "input is too short")}},
		{"start=2020-13-01", []map[string]any{dtItem("start", "2020-13-01", "month value is outside expected range of 1-12")}},
		{"start=2020-02-30", []map[string]any{dtItem("start", "2020-02-30", "day value is outside expected range")}},
		{"start=2020-01-01X00:00", []map[string]any{dtItem("start", "2020-01-01X00:00", "unexpected extra characters at the end of the input")}},
		{"start=2020-01-01&end=2020-01-0", []map[string]any{
			tagged(dtItem("end", "2020-01-0", "input is too short"), "datetime"), literal("end", "2020-01-0")}},
		{"start=2020-01-01&limit=1.5", []map[string]any{
			{"type": "int_parsing", "loc": arr{"query", "limit", "int"}, "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "1.5"},
			literal("limit", "1.5")}},
		{"start=2020-01-01&mofo_relevant=maybe", []map[string]any{
			{"type": "bool_parsing", "loc": arr{"query", "mofo_relevant", "bool"}, "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"},
			literal("mofo_relevant", "maybe")}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			require.Equal(t, c.want, validationErrors(t, a.on(t).do("GET", "/updates?"+c.query, nil)))
		})
	}
}

// pydantic's `date` in lax mode (amo.last_login): "YYYY-MM-DD"; a date-time
// or a Unix time at midnight is that day; one with a time is
// date_from_datetime_inexact ("Datetimes provided to dates should have zero
// time - e.g. be exact dates"); text that is no date-time either is
// date_from_datetime_parsing with speedate's reason in msg and ctx.error;
// another type (true) is date_type.
func TestLastLoginAsPydanticDate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, given := range []any{"2021-01-28T00:00:00", float64(1611792000), "2021-01-28 00:00:00Z", "1611792000"} {
		id, body := newContact()
		body["amo"] = obj{"last_login": given}
		r := a.do("POST", "/ctms", body)
		require.Equal(t, http.StatusCreated, r.Status, "%v: %s", given, r.Body)
		require.Equal(t, "2021-01-28", at(t, a.get(id), "amo", "last_login"), given)
		r = a.do("PATCH", "/ctms/"+id, obj{"amo": obj{"last_login": given, "display_name": "x"}})
		require.Equal(t, http.StatusOK, r.Status, "%v: %s", given, r.Body)
	}
	loc := arr{"body", "amo", "last_login"}
	inexact := obj{"type": "date_from_datetime_inexact", "loc": loc,
		"msg": "Datetimes provided to dates should have zero time - e.g. be exact dates"}
	parsing := func(why string) map[string]any {
		return obj{"type": "date_from_datetime_parsing", "loc": loc, "msg": "Input should be a valid date or datetime, " + why, "ctx": obj{"error": why}}
	}
	cases := []struct {
		given any
		want  map[string]any
	}{
		{"2021-01-28T10:00:00", inexact},
		{float64(1611792001), inexact},
		{"2021-01-32", parsing("day value is outside expected range")},
		{"yesterday", parsing("input is too short")},
		{"the day before", parsing("invalid character in year")},
		{"2021", inexact}, // a Unix time (33 minutes past 1970-01-01)
		{"2021-01", parsing("input is too short")},
		{"2021-01-28X", parsing("invalid datetime separator, expected `T`, `t`, `_` or space")},
		{true, obj{"type": "date_type", "loc": loc, "msg": "Input should be a valid date"}},
	}
	for _, c := range cases {
		id, body := newContact()
		body["amo"] = obj{"last_login": c.given}
		c.want["input"] = c.given
		require.Equal(t, []map[string]any{c.want}, validationErrors(t, a.do("POST", "/ctms", body)), "%v", c.given)
		a.noRows(id)
	}
}

// Starlette's router, as the Python CTMS runs it: routes are matched in
// registration order on the percent-decoded path ({param} is one non-empty
// segment without "/"); a wrong method gets 405 with Allow listing the methods
// of the first route whose path matched (Route.handle), not of all of them;
// with no match, redirect_slashes answers 307 when the path with its trailing
// slashes stripped (rstrip("/")), or with one added, matches a route; else 404.
// FastAPI's HTML pages are "text/html; charset=utf-8"; prometheus_client's text
// format is "text/plain; version=0.0.4; charset=utf-8".
func TestRoutingAsStarlette(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	for _, c := range []struct{ method, path, allow string }{
		{"POST", "/ctms/" + id, "GET"}, // GET /ctms/{email_id} comes before PUT, PATCH and DELETE
		{"DELETE", "/ctms", "GET"},     // GET /ctms comes before POST /ctms
		{"HEAD", "/ctms/" + id, "GET"},
		{"POST", "/updates", "GET"},
		{"POST", "/__heartbeat__", "GET, HEAD"},
	} {
		r := a.do(c.method, c.path, nil)
		require.Equal(t, http.StatusMethodNotAllowed, r.Status, "%s %s", c.method, c.path)
		require.Equal(t, c.allow, r.Header.Get("Allow"), "%s %s", c.method, c.path)
		if c.method != "HEAD" {
			require.Equal(t, obj{"detail": "Method Not Allowed"}, r.Object(t))
		}
	}
	// "/ctms//" (decoded) matches no route; stripped of its trailing slashes it is /ctms.
	r := a.do("GET", "/ctms/%2F?primary_email=x", nil)
	require.Equal(t, http.StatusTemporaryRedirect, r.Status, "%s", r.Body)
	require.Equal(t, "/ctms?primary_email=x", r.Header.Get("Location"))
	for _, c := range []struct{ method, path string }{
		{"GET", "//ctms"},                           // no route matches "//ctms" nor "//ctms/"
		{"DELETE", "/ctms/a%2Fb%40example.com"},     // "/ctms/a/b@example.com" has one segment too many
		{"GET", "/identity/" + id[:8] + "%2F" + id}, // likewise
	} {
		requireDetail(t, a.do(c.method, c.path, nil), http.StatusNotFound, "Not Found")
	}
	r = a.do("GET", "/docs", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	r = a.do("GET", "/metrics", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", r.Header.Get("Content-Type"))
}

// PATCH {"email": {"email_id": null}}: the schema lets null through (the
// email_id check only compares a non-null id), the Python CTMS sets the
// column to NULL, and PostgreSQL's NOT NULL on emails.email_id fails the
// commit with an integrity error (class 23), which PATCH answers 409 with its
// conflict text; nothing changes. An unknown contact is 404 first.
func TestPatchNullEmailIDConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	before := a.create(body)
	r := a.do("PATCH", "/ctms/"+id, `{"email": {"email_id": null, "first_name": "Changed"}}`)
	requireDetail(t, r, http.StatusConflict, "Contact with primary_email, basket_token, mofo_email_id, or fxa_id already exists")
	require.Equal(t, at(t, before, "email"), at(t, a.get(id), "email"))
	r = a.do("PATCH", "/ctms/"+uuid.NewString(), `{"email": {"email_id": null}}`)
	requireDetail(t, r, http.StatusNotFound, "Unknown email_id")
}

// Waitlist fields are checked by a pydantic model after the item (loc without
// "fields"): an unknown field of relay or vpn is extra_forbidden "Extra inputs
// are not permitted"; a geo over 100 characters string_too_long "String should
// have at most 100 characters" with ctx.max_length: pydantic's messages, with
// no hint of CTMS-Go's own.
func TestWaitlistFieldItemsAsPydantic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	long := strRepeat(101)
	id, body := newContact()
	body["waitlists"] = arr{obj{"name": "relay", "fields": obj{"foo": "bar"}}, obj{"name": "vpn", "fields": obj{"geo": long}}}
	require.Equal(t, []map[string]any{
		{"type": "extra_forbidden", "loc": arr{"body", "waitlists", float64(0), "foo"}, "msg": "Extra inputs are not permitted", "input": "bar"},
		{"type": "string_too_long", "loc": arr{"body", "waitlists", float64(1), "geo"}, "msg": "String should have at most 100 characters",
			"input": long, "ctx": obj{"max_length": float64(100)}},
	}, validationErrors(t, a.do("POST", "/ctms", body)))
	a.noRows(id)
}

// pydantic echoes as `input` the object json.loads built, so FastAPI's JSON
// keeps the client's key order (a missing field's item echoes its parent).
func TestInputKeepsClientKeyOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	r := a.do("POST", "/ctms", `{"email": {"zeta": 1, "first_name": "A", "basket_token": null, "alpha": [true, "yes"]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body),
		`"type":"missing","loc":["body","email","primary_email"],"msg":"Field required","input":{"zeta":1,"first_name":"A","basket_token":null,"alpha":[true,"yes"]}`)
	r = a.do("PUT", "/ctms/"+id, `{"email": {"primary_email": "x@example.com", "email_id": "`+id+`"}, "newsletters": [{"z": 1, "subscribed": "yes", "a": 2}]}`)
	require.Contains(t, string(r.Body),
		`"loc":["body","newsletters",0,"name"],"msg":"Field required","input":{"z":1,"subscribed":"yes","a":2}`)
	a.noRows(id)
}
