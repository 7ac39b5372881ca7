package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestUnstorableInput: well-formed input PostgreSQL cannot take (NUL characters,
// unpaired surrogates, invalid UTF-8, numbers out of range, deep nesting) gets a
// 4xx and writes nothing, where it used to fail in the database with a 500.
func TestUnstorableInput(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	contact := func(id, extra string) string {
		return `{"email":{"email_id":"` + id + `","primary_email":"` + strings.ToLower(newEmail()) + `"}` + extra + `}`
	}
	for name, tc := range map[string]struct {
		extra  string
		status int
		reason string
	}{
		"NUL in a string":               {`,"amo":{"display_name":"a\u0000b"}`, 422, "NUL character (\\u0000) not allowed"},
		"NUL in waitlist fields":        {`,"waitlists":[{"name":"vpn","fields":{"geo":"\u0000"}}]`, 422, "NUL character (\\u0000) not allowed"},
		"NUL in a key":                  {`,"waitlists":[{"name":"vpn","fields":{"\u0000":"x"}}]`, 422, "NUL character (\\u0000) not allowed"},
		"lone high surrogate in fields": {`,"waitlists":[{"name":"vpn","fields":{"geo":"\ud800x"}}]`, 422, "Unpaired surrogate in \\u escape"},
		"lone low surrogate in fields":  {`,"waitlists":[{"name":"vpn","fields":{"geo":"\udc00"}}]`, 422, "Unpaired surrogate in \\u escape"},
		"huge number in fields":         {`,"waitlists":[{"name":"vpn","fields":{"n":1e400}}]`, 422, "Number out of range"},
		"tiny number in fields":         {`,"waitlists":[{"name":"vpn","fields":{"n":1e-20000}}]`, 422, "Number out of range"},
		"long number in fields":         {`,"waitlists":[{"name":"vpn","fields":{"n":` + strings.Repeat("9", 101) + `}}]`, 422, "Number too long"},
		"deep nesting in fields":        {`,"waitlists":[{"name":"vpn","fields":{"n":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}]`, 422, "Maximum nesting depth of 100 exceeded"},
		"invalid UTF-8 in fields":       {",\"waitlists\":[{\"name\":\"vpn\",\"fields\":{\"geo\":\"\xff\"}}]", 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			a := a.on(t)
			id := uuid.NewString()
			for _, method := range []string{"POST", "PUT"} {
				path := "/ctms"
				if method == "PUT" {
					path += "/" + id
				}
				r := a.do(method, path, contact(id, tc.extra))
				require.Equal(t, tc.status, r.Status, "%s %s", method, r.Body)
				if tc.status == 422 {
					e := validationErrors(t, r)[0]
					require.Equal(t, "json_invalid", e["type"])
					require.Equal(t, tc.reason, e["ctx"].(map[string]any)["error"])
				} else {
					requireDetail(t, r, 400, "There was an error parsing the body")
				}
				a.noRows(id)
			}
		})
	}
	// Fine: paired surrogates, U+FFFD, numbers in range, nesting within bounds.
	id := uuid.NewString()
	r := a.do("POST", "/ctms", contact(id, `,"waitlists":[{"name":"fuzzing","fields":{"e":"\ud83d\ude00\ufffd","n":[1e300,-1e-300,123456789012345678901234567890],"d":`+
		strings.Repeat("[", 90)+strings.Repeat("]", 90)+`}}]`))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)

	// Parameters: NUL refused, invalid UTF-8 read as U+FFFD (as Starlette decodes it).
	for _, p := range []string{"primary_email=a%00b", "fxa_id=%00", "mofo_email_id=x%00", "sfdc_id=%00"} {
		r := a.do("GET", "/ctms?"+p, nil)
		name, _, _ := strings.Cut(p, "=")
		require.Equal(t, "Value error, NUL character not allowed", errorAt(t, r, "query", name)["msg"], p)
	}
	for _, p := range []string{"primary_email=a%ffb", "sfdc_id=%c3", "amo_user_id=%ff%fe", "fxa_primary_email=%e9@example.com"} {
		r := a.do("GET", "/ctms?"+p, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", p, r.Body)
		require.Empty(t, r.List(t))
	}
	require.Equal(t, "Value error, NUL character not allowed",
		errorAt(t, a.do("DELETE", "/ctms/a%00b@example.com", nil), "path", "primary_email")["msg"])
	requireDetail(t, a.do("DELETE", "/ctms/a%ffb@example.com", nil), http.StatusNotFound, "email a\ufffdb@example.com not found!")
}

// TestUpdatesUnixTimeRange: numeric start/end are read as pydantic reads them
// (milliseconds beyond 2e10) and must fall in years 1 to 9999; a year-318857
// start used to reach PostgreSQL and fail with a 500 (found by FuzzUpdatesQuery).
func TestUpdatesUnixTimeRange(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for q, start := range map[string]string{
		"start=1609459200":      "2021-01-01T00:00:00Z",
		"start=1609459200000":   "2021-01-01T00:00:00Z",
		"start=10000000000000":  "2286-11-20T17:46:40Z",
		"start=-1609459200000":  "1919-01-01T00:00:00Z",
		"start=1609459200000.5": "2021-01-01T00:00:00.000500Z",
	} {
		r := a.do("GET", "/updates?"+q+"&end=2000-01-01&limit=1", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", q, r.Body)
		require.Equal(t, start, r.Object(t)["start"], q)
	}
	for _, q := range []string{"start=300000000000000", "start=-300000000000000", "start=0000-01-01", "start=2021-01-01&end=99999999999999999"} {
		errs := validationErrors(t, a.do("GET", "/updates?"+q, nil))
		require.Equal(t, "query", errs[0]["loc"].([]any)[0], q)
	}
}
