package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const noIdentifiers = "No identifiers provided, at least one is needed: email_id, primary_email, basket_token, sfdc_id, mofo_contact_id, mofo_email_id, amo_user_id, fxa_id, fxa_primary_email"

// lookupFixture is two contacts sharing the non-unique identifiers, plus one
// with no groups at all.
type lookupFixture struct {
	u                   string // unique suffix of the shared values
	first, second, bare string
	bodies              map[string]obj
}

func newLookupFixture(a *apiTest) *lookupFixture {
	a.t.Helper()
	f := &lookupFixture{u: strings.ReplaceAll(uuid.NewString(), "-", "")[:16], bodies: map[string]obj{}}
	mk := func(n string) string {
		id, body := newContact()
		e := body["email"].(obj)
		e["basket_token"] = uuid.NewString()
		e["sfdc_id"] = "sf-" + f.u
		body["amo"] = obj{"user_id": "amo-" + f.u}
		body["fxa"] = obj{"fxa_id": "fxa-" + n + "-" + f.u, "primary_email": "Fxa." + f.u + "@Example.com"}
		if n == "second" {
			body["fxa"].(obj)["primary_email"] = "fxa." + f.u + "@example.COM"
		}
		body["mofo"] = obj{"mofo_contact_id": "mc-" + f.u, "mofo_email_id": "me-" + n + "-" + f.u}
		a.create(body)
		f.bodies[id] = body
		return id
	}
	f.first, f.second = mk("first"), mk("second")
	id, body := newContact()
	a.create(body)
	f.bare = id
	f.bodies[id] = body
	return f
}

func sortedIDs(ids ...string) []string { ids = slices.Clone(ids); slices.Sort(ids); return ids }

func TestLookupByIdentifiers(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	f := newLookupFixture(a)
	email := func(id string) string { return f.bodies[id]["email"].(obj)["primary_email"].(string) }
	token := func(id string) string { return f.bodies[id]["email"].(obj)["basket_token"].(string) }
	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"email_id", url.Values{"email_id": {f.first}}, []string{f.first}},
		{"email_id upper case", url.Values{"email_id": {strings.ToUpper(f.bare)}}, []string{f.bare}},
		{"primary_email", url.Values{"primary_email": {email(f.first)}}, []string{f.first}},
		{"primary_email other case", url.Values{"primary_email": {strings.ToUpper(email(f.second))}}, []string{f.second}},
		{"basket_token", url.Values{"basket_token": {token(f.first)}}, []string{f.first}},
		{"basket_token upper case", url.Values{"basket_token": {strings.ToUpper(token(f.second))}}, []string{f.second}},
		{"sfdc_id (shared)", url.Values{"sfdc_id": {"sf-" + f.u}}, sortedIDs(f.first, f.second)},
		{"mofo_contact_id (shared)", url.Values{"mofo_contact_id": {"mc-" + f.u}}, sortedIDs(f.first, f.second)},
		{"mofo_email_id", url.Values{"mofo_email_id": {"me-second-" + f.u}}, []string{f.second}},
		{"amo_user_id (shared)", url.Values{"amo_user_id": {"amo-" + f.u}}, sortedIDs(f.first, f.second)},
		{"fxa_id", url.Values{"fxa_id": {"fxa-first-" + f.u}}, []string{f.first}},
		{"fxa_primary_email, any case (shared)", url.Values{"fxa_primary_email": {"FXA." + f.u + "@example.com"}}, sortedIDs(f.first, f.second)},
		{"AND of two", url.Values{"sfdc_id": {"sf-" + f.u}, "fxa_id": {"fxa-second-" + f.u}}, []string{f.second}},
		{"AND within one group", url.Values{"fxa_id": {"fxa-second-" + f.u}, "fxa_primary_email": {"fxa." + f.u + "@example.com"}}, []string{f.second}},
		{"AND that matches nothing", url.Values{"email_id": {f.first}, "mofo_email_id": {"me-second-" + f.u}}, nil},
		{"empty identifier still filters", url.Values{"sfdc_id": {"sf-" + f.u}, "amo_user_id": {""}}, nil},
		{"last repeated value wins", url.Values{"email_id": {f.second, f.first}}, []string{f.first}},
		{"unknown", url.Values{"primary_email": {"nobody-" + f.u + "@example.com"}}, nil},
		{"case-sensitive identifier", url.Values{"sfdc_id": {"SF-" + f.u}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			r := a.do("GET", "/ctms?"+tc.query.Encode(), nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var got []string
			for i, c := range r.List(t) {
				requireContactShape(t, member(t, r.Body, i), false)
				got = append(got, at(t, c, "email", "email_id").(string))
			}
			slices.Sort(got)
			require.Equal(t, tc.want, got)
			if tc.want == nil {
				require.Equal(t, "[]", string(r.Body))
			}

			r = a.do("GET", "/identities?"+tc.query.Encode(), nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			got = nil
			for i, c := range r.List(t) {
				require.Equal(t, identityKeys, keysOf(t, member(t, r.Body, i)))
				got = append(got, c.(map[string]any)["email_id"].(string))
			}
			slices.Sort(got)
			require.Equal(t, tc.want, got)
		})
	}

	// The contact objects are the stored ones.
	r := a.do("GET", "/ctms?email_id="+f.first, nil)
	single := a.get(f.first)
	delete(single, "status")
	require.Equal(t, arr{single}, r.JSON(t))
}

func TestLookupErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, path := range []string{"/ctms", "/identities"} {
		for _, q := range []string{"", "?", "?primary_email=", "?primary_email=&sfdc_id=&mofo_contact_id=&mofo_email_id=&amo_user_id=&fxa_id=&fxa_primary_email=", "?unknown=x"} {
			t.Run(path+q, func(t *testing.T) {
				a := a.on(t)
				requireDetail(t, a.do("GET", path+q, nil), http.StatusBadRequest, noIdentifiers)
			})
		}
		for _, p := range []string{"email_id", "basket_token"} {
			t.Run(path+" bad "+p, func(t *testing.T) {
				a := a.on(t)
				item := errorAt(t, a.do("GET", path+"?"+p+"=not-a-uuid", nil), "query", p)
				require.Equal(t, "uuid_parsing", item["type"])
				require.Equal(t, "not-a-uuid", item["input"])
				// Checked before the 400.
				errorAt(t, a.do("GET", path+"?"+p+"=not-a-uuid&primary_email=", nil), "query", p)
			})
		}
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	f := newLookupFixture(a)
	e := f.bodies[f.first]["email"].(obj)
	r := a.do("GET", "/identity/"+f.first, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, identityKeys, keysOf(t, r.Body))
	require.Equal(t, obj{"email_id": f.first, "primary_email": e["primary_email"], "basket_token": e["basket_token"],
		"sfdc_id": "sf-" + f.u, "mofo_contact_id": "mc-" + f.u, "mofo_email_id": "me-first-" + f.u,
		"amo_user_id": "amo-" + f.u, "fxa_id": "fxa-first-" + f.u, "fxa_primary_email": "Fxa." + f.u + "@Example.com"}, r.Object(t))
	r = a.do("GET", "/identity/"+strings.ToUpper(f.bare), nil)
	require.Equal(t, obj{"email_id": f.bare, "primary_email": f.bodies[f.bare]["email"].(obj)["primary_email"], "basket_token": nil,
		"sfdc_id": nil, "mofo_contact_id": nil, "mofo_email_id": nil, "amo_user_id": nil, "fxa_id": nil, "fxa_primary_email": nil}, r.Object(t))
	requireDetail(t, a.do("GET", "/identity/"+uuid.NewString(), nil), http.StatusNotFound, "Unknown email_id")
	require.Equal(t, "uuid_parsing", errorAt(t, a.do("GET", "/identity/nope", nil), "path", "email_id")["type"])
	// The same identities as /identities.
	r2 := a.do("GET", "/identities?email_id="+f.first, nil)
	require.Equal(t, arr{a.do("GET", "/identity/"+f.first, nil).JSON(t)}, r2.JSON(t))
}

func TestConcurrentCreatesOfOneEmail(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	email := newEmail()
	const n = 12
	statuses := make([]int, n)
	bodies := make([]string, n)
	errs := make([]error, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = uuid.NewString()
		address := email
		if i%2 == 1 {
			address = strings.ToUpper(email)
		}
		wg.Go(func() {
			r, err := a.send("POST", "/ctms", obj{"email": obj{"email_id": ids[i], "primary_email": address},
				"newsletters": arr{obj{"name": "a"}, obj{"name": "b"}}})
			errs[i] = err
			if r != nil {
				statuses[i], bodies[i] = r.Status, string(r.Body)
			}
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		switch statuses[i] {
		case http.StatusCreated:
			created++
			require.Equal(t, 2, a.rowsOf(ids[i])["newsletters"])
		case http.StatusConflict:
			require.JSONEq(t, `{"detail":"Contact already exists"}`, bodies[i])
			a.noRows(ids[i])
		default:
			require.Failf(t, "unexpected status", "%d: %s", statuses[i], bodies[i])
		}
	}
	require.Equal(t, 1, created)
	require.Equal(t, 1, a.count(`SELECT count(*) FROM emails WHERE lower(primary_email) = lower($1)`, email))
}
