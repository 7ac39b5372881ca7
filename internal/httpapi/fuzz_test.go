package httpapi_test

// Fuzz targets for the request path: POST, PUT and PATCH bodies, the /updates query
// string and its `after` cursor, each driven through the whole handler of
// httpapi.New (routing, validation, authentication, handlers, the store) against a
// private database. Invariants for every input: no panic, no 5xx, a response valid
// against api/openapi.yaml, and nothing written by a rejected (4xx) request (a digest
// of every contact table is compared before and after). A successful write must be
// what a read then returns.
//
// `go test` runs the seed corpora (f.Add below, plus testdata/fuzz when present);
// `make fuzz` fuzzes each target for FUZZTIME.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// The contacts every fuzz database starts from (and is reset to after a successful write).
const (
	fuzzBaseID     = "2f4c7b3e-7a61-4a3b-9d6e-0c1f5b8a9e21"
	fuzzBaseEmail  = "fuzz.base@example.org"
	fuzzOtherID    = "7d0e5a9c-3b2f-4e18-8c47-a1b2c3d4e5f6"
	fuzzOtherEmail = "fuzz.other@example.org"
	fuzzNewID      = "c1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b" // free: POST/PUT seeds create it
)

var (
	fuzzBaseBody = `{"email":{"email_id":"` + fuzzBaseID + `","primary_email":"` + fuzzBaseEmail + `",` +
		`"basket_token":"0b8f6c3a-2d1e-4f5a-9b7c-8d6e5f4a3b2c","first_name":"Ada","last_name":"Lovelace",` +
		`"mailing_country":"gb","email_format":"H","email_lang":"en","double_opt_in":true},` +
		`"amo":{"user_id":"amo-fuzz-1","display_name":"Ada","email_opt_in":true,"language":"en","last_login":"2021-01-28"},` +
		`"fxa":{"fxa_id":"fxa-fuzz-1","primary_email":"fxa.fuzz@example.org","lang":"en,fr","first_service":"sync"},` +
		`"mofo":{"mofo_email_id":"mofo-e-1","mofo_contact_id":"mofo-c-1","mofo_relevant":true},` +
		`"newsletters":[{"name":"firefox-news","subscribed":true,"format":"H","lang":"en","source":"https://www.mozilla.org/"},` +
		`{"name":"mozilla-foundation","subscribed":false,"unsub_reason":"too many"}],` +
		`"waitlists":[{"name":"vpn","fields":{"geo":"fr","platform":"ios,mac"}},{"name":"relay","source":"https://relay.example/","fields":{"geo":"de"}}]}`
	fuzzOtherBody = `{"email":{"email_id":"` + fuzzOtherID + `","primary_email":"` + fuzzOtherEmail + `"},` +
		`"fxa":{"fxa_id":"fxa-fuzz-2"},"newsletters":[{"name":"firefox-news"}]}`
)

// contactTables are the tables a contact lives in.
var contactTables = []string{"emails", "amo", "fxa", "mofo", "newsletters", "waitlists"}

// fuzzEnv is one handler on its own database, with an admin client's token.
type fuzzEnv struct {
	h     http.Handler
	pool  *pgxpool.Pool
	token string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.NewDatabase(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	clientID := "id_fuzz"
	for _, q := range []string{
		`INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ($1, 'fuzz@example.com', true, 'unused')`,
		`INSERT INTO api_client_roles (api_client_id, role_id) SELECT $1, id FROM roles WHERE name = 'admin'`,
	} {
		if _, err := pool.Exec(ctx, q, clientID); err != nil {
			f.Fatal(err)
		}
	}
	token, err := auth.MintToken(testSecretKey, clientID, 24*time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	cfg := &config.Config{
		SecretKey: testSecretKey, TokenExpiration: time.Hour, ServerPrefix: "http://testserver",
		AppDir: f.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10, EnforcePermissions: true,
		RequestDBTimeout: 10 * time.Second,
	}
	h, err := httpapi.New(ctx, cfg, pool, pool,
		httpapi.WithLogger(obs.NewLogger(&packageLogs, true, slog.LevelDebug)))
	if err != nil {
		f.Fatal(err)
	}
	e := &fuzzEnv{h: h, pool: pool, token: token}
	f.Cleanup(func() { scrapeMetrics(h) }) // for TestMain's scan
	e.reset(f)
	return e
}

// reset brings the contact tables back to the starting state: the two base
// contacts (written through the API) and six bare contacts for /updates to page
// through, updated two by two an hour apart from 2021-01-01.
func (e *fuzzEnv) reset(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists", "emails"} {
		if _, err := e.pool.Exec(ctx, "DELETE FROM "+table); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email, create_timestamp, update_timestamp)
		SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'fuzz.updates.' || i || '@example.org',
		       '2021-01-01'::timestamptz + i * interval '1 hour', '2021-01-01'::timestamptz + (i / 2) * interval '1 hour'
		FROM generate_series(1, 6) AS i`); err != nil {
		tb.Fatal(err)
	}
	for _, body := range []string{fuzzBaseBody, fuzzOtherBody} {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, e.request("POST", "/ctms", []byte(body)))
		if rec.Code != http.StatusCreated {
			tb.Fatalf("reset: POST /ctms -> %d %s", rec.Code, rec.Body)
		}
	}
}

// digest is a hash of every row of the contact tables.
func (e *fuzzEnv) digest(tb testing.TB) string {
	tb.Helper()
	parts := make([]string, len(contactTables))
	for i, table := range contactTables {
		parts[i] = "SELECT t::text AS r FROM " + table + " t"
	}
	var d string
	if err := e.pool.QueryRow(context.Background(), "SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) FROM ("+
		strings.Join(parts, " UNION ALL ")+") x").Scan(&d); err != nil {
		tb.Fatal(err)
	}
	return d
}

func (e *fuzzEnv) request(method, target string, body []byte) *http.Request {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	return req
}

// serve runs one request through the handler and checks the invariants.
func (e *fuzzEnv) serve(t *testing.T, req *http.Request) *response {
	t.Helper()
	before := e.digest(t)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if r.Status >= 500 || r.Status < 200 {
		t.Fatalf("%s %s -> %d: %s", req.Method, req.URL, r.Status, r.Body)
	}
	(&apiTest{t: t}).checkContract(req, r)
	if t.Failed() {
		t.FailNow()
	}
	if r.Status >= 400 || req.Method == http.MethodGet {
		if after := e.digest(t); after != before {
			t.Fatalf("%s %s -> %d changed the contact tables: %s", req.Method, req.URL, r.Status, r.Body)
		}
	}
	return r
}

// write fuzzes one write: the invariants, then for a success that a read returns
// what the write answered, and the database goes back to its starting state.
func (e *fuzzEnv) write(t *testing.T, method, target string, body []byte) {
	t.Helper()
	r := e.serve(t, e.request(method, target, body))
	if r.Status >= 300 {
		return
	}
	defer e.reset(t)
	var got struct {
		Email struct {
			EmailID string `json:"email_id"`
		} `json:"email"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Email.EmailID == "" {
		t.Fatalf("%s %s -> %d without a contact: %s", method, target, r.Status, r.Body)
	}
	read := e.serve(t, e.request("GET", "/ctms/"+got.Email.EmailID, nil))
	if read.Status != http.StatusOK {
		t.Fatalf("%s %s -> %d, then GET -> %d: %s", method, target, r.Status, read.Status, read.Body)
	}
	if !jsonEqual(r.Body, read.Body) {
		t.Fatalf("%s %s answered\n%s\nbut GET returns\n%s", method, target, r.Body, read.Body)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// contactSeeds are bodies for POST and PUT: valid ones, conflicts and the usual
// suspects of hostile JSON.
func contactSeeds() []string {
	newMinimal := `{"email":{"email_id":"` + fuzzNewID + `","primary_email":"fuzz.new@example.org"}}`
	seeds := []string{
		newMinimal,
		`{"email":{"primary_email":"fuzz.noid@example.org"}}`,
		strings.NewReplacer(fuzzBaseID, fuzzNewID, fuzzBaseEmail, "fuzz.full@example.org", "0b8f6c3a", "1b8f6c3a",
			"amo-fuzz-1", "amo-fuzz-9", "fxa-fuzz-1", "fxa-fuzz-9", "mofo-e-1", "mofo-e-9", "mofo-c-1", "mofo-c-9").Replace(fuzzBaseBody),
		fuzzBaseBody, // identical re-post (200) / PUT (200)
		strings.Replace(fuzzBaseBody, `"Ada"`, `"Grace"`, 1),                                                       // different: 409 on POST
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"` + fuzzOtherEmail + `"}}`,                      // taken email
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"FUZZ.OTHER@EXAMPLE.ORG"}}`,                      // taken, other case
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"fxa":{"fxa_id":"fxa-fuzz-2"}}`, // taken fxa_id
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org","basket_token":"0b8f6c3a-2d1e-4f5a-9b7c-8d6e5f4a3b2c"}}`,
		`{"email":{"email_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","primary_email":"v1@example.org"}}`, // not v4
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"not an email"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"` + strings.Repeat("a", 300) + `@example.org"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org","email_lang":"toolong","email_format":"XX"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"newsletters":[{"name":"a"},{"name":"a"}]}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"newsletters":[{"name":"bad name!"}]}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"waitlists":[{"name":"vpn","fields":{"geo":"` + strings.Repeat("x", 200) + `"}}]}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"waitlists":[{"name":"w","source":"javascript:alert(1)"}]}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"amo":{"last_login":"2021-02-30"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"fxa":{"created_date":"yesterday"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"vpn_waitlist":{"geo":"fr"},"relay_waitlist":{"geo":null}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org","first_name":"\u0000\ud800"}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org","double_opt_in":"yes","has_opted_out_of_email":1}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"unknown":{"a":[1,2,{"b":null}]}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"waitlists":[{"name":"w","fields":{"a":"\ud800","b":"\u0000","n":1e-20000}}]}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"},"waitlists":[{"name":"w","fields":{"e":"\ud83d\ude00","n":[1e300,-0.5],"o":{"p":null}}}]}`,
		"{\"email\":{\"email_id\":\"" + fuzzNewID + "\",\"primary_email\":\"x@example.org\"},\"waitlists\":[{\"name\":\"w\",\"fields\":{\"a\":\"\xff\"}}]}",
		`{"email":null}`, `{"email":{}}`, `{}`, `[]`, `null`, `"text"`, `0`, ``, `{`, `{"email":{"primary_email":1e400}}`,
		`{"email":{"email_id":"` + fuzzNewID + `","primary_email":"x@example.org"}}{"trailing":true}`,
		`{"email":{"email_id":"` + fuzzNewID + `","email_id":"` + fuzzBaseID + `","primary_email":"x@example.org"}}`, // duplicate key
		strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2000),
		strings.Repeat(`[`, 10000),
		"\xff\xfe{}",
	}
	return seeds
}

func FuzzCreateContact(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range contactSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.write(t, "POST", "/ctms", body)
	})
}

func FuzzPutContact(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range contactSeeds() {
		f.Add(fuzzNewID, []byte(s))
		f.Add(fuzzBaseID, []byte(s))
	}
	for _, id := range []string{"", "not-a-uuid", strings.ToUpper(fuzzBaseID), "{" + fuzzBaseID + "}",
		strings.ReplaceAll(fuzzBaseID, "-", ""), fuzzBaseEmail, "../token", "%00", "00000000-0000-4000-8000-000000000001"} {
		f.Add(id, []byte(fuzzBaseBody))
	}
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		e.write(t, "PUT", "/ctms/"+url.PathEscape(id), body)
	})
}

func FuzzPatchContact(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []string{
		`{}`,
		`{"email":{"first_name":"Grace"}}`,
		`{"email":{"primary_email":"fuzz.patched@example.org","email_lang":"fr"}}`,
		`{"email":{"primary_email":"` + fuzzOtherEmail + `"}}`, // taken: 409
		`{"email":{"email_id":"` + fuzzOtherID + `"}}`,
		`{"email":{"basket_token":null,"sfdc_id":null}}`,
		`{"email":{"primary_email":null}}`,
		`{"amo":"DELETE"}`, `{"fxa":"DELETE","mofo":"DELETE"}`, `{"amo":"delete"}`,
		`{"amo":{"user_id":"amo-fuzz-2","display_name":null}}`,
		`{"fxa":{"fxa_id":"fxa-fuzz-2"}}`, // taken: 409
		`{"fxa":{"account_deleted":true,"created_date":"2021-01-29T18:43:49.082375+00:00"}}`,
		`{"mofo":{"mofo_relevant":false}}`,
		`{"newsletters":"UNSUBSCRIBE"}`, `{"newsletters":"unsubscribe"}`,
		`{"newsletters":[{"name":"firefox-news","subscribed":false,"unsub_reason":"bye"},{"name":"new-one"}]}`,
		`{"newsletters":[{"name":"firefox-news","source":null,"lang":null}]}`,
		`{"waitlists":"UNSUBSCRIBE"}`,
		`{"waitlists":[{"name":"vpn","subscribed":false},{"name":"relay","fields":{"geo":"it"}}]}`,
		`{"waitlists":[{"name":"vpn","fields":{"geo":"` + strings.Repeat("x", 200) + `"}}]}`,
		`{"vpn_waitlist":{"geo":"us","platform":null},"relay_waitlist":{"geo":"fr"}}`,
		`{"vpn_waitlist":null}`,
		`{"waitlists":[{"name":"w","fields":{"a":"\udc00","n":1e400}}]}`, `{"email":{"first_name":"\u0000"}}`,
		`{"email":{"email_format":"toolong"}}`, `{"email":{"create_timestamp":"2000-01-01"}}`,
		`{"email":[]}`, `{"newsletters":{}}`, `{"amo":7}`, `[]`, `null`, ``, `{`, "\xff",
		strings.Repeat(`{"email":`, 1000) + `{}` + strings.Repeat(`}`, 1000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.write(t, "PATCH", "/ctms/"+fuzzBaseID, body)
	})
}

// updatesCursor is an `after` value as the service writes it.
func updatesCursor(id, ts string) string {
	return base64.URLEncoding.EncodeToString([]byte(id + "," + ts))
}

func FuzzUpdatesQuery(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []string{
		"start=2021-01-01", "start=2021-01-01T00:00:00Z&limit=2", "start=2021-01-01&end=2021-01-02&limit=3&mofo_relevant=true",
		"start=2021-01-01 00:00:00%2B00:00&end=2021-01-01T02:00:00-01:30&mofo_relevant=false",
		"start=1609459200&end=1609545600.5", "start=2021-01-01&limit=1000", "start=2021-01-01&limit=0", "start=2021-01-01&limit=-1",
		"start=2021-01-01&limit=99999999999999999999", "start=2021-01-01&limit=1.5", "start=yesterday", "start=", "",
		"limit=10", "start=2021-02-30", "start=2021-01-01T25:00", "start=99999-01-01", "start=-1e300", "start=1e300",
		"start=9223372036854775807", "start=2021-01-01&start=2022-01-01", "start=%ZZ", "start=2021-01-01&mofo_relevant=maybe",
		"start=2021-01-01&after=" + url.QueryEscape(updatesCursor("00000000-0000-4000-8000-000000000002", "2021-01-01 01:00:00+00:00")) + "&limit=2",
		"start=2021-01-01&after=!!!", "start=2021-01-01&after=&limit=2", "start=2021-01-01;limit=2", "start=2021-01-01&unknown=1",
		"start=10000000000000", "start=1609459200123.5", "start=0000-01-01", "start=9999-12-31T23:59:59-23:59", "start=-62135596801",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		// Only what an HTTP request line can carry reaches the handler.
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return
		}
		if _, err := url.ParseRequestURI("/updates?" + query); err != nil {
			return
		}
		checkUpdates(t, e.serve(t, e.request("GET", "/updates?"+query, nil)))
	})
}

func FuzzUpdatesCursor(f *testing.F) {
	e := newFuzzEnv(f)
	for _, c := range []string{
		updatesCursor("00000000-0000-4000-8000-000000000002", "2021-01-01 01:00:00+00:00"),
		updatesCursor("00000000-0000-4000-8000-000000000005", "2021-01-01 02:00:00"),
		updatesCursor("00000000-0000-4000-8000-000000000001", "2021-01-01T00:00:00.123456Z"),
		updatesCursor(fuzzBaseID, "1609459200"),
		base64.StdEncoding.EncodeToString([]byte("00000000-0000-4000-8000-000000000003,2021-01-01 01:00:00+00:00")),
		base64.RawURLEncoding.EncodeToString([]byte("00000000-0000-4000-8000-000000000003,2021-01-01 01:00:00+00:00")),
		updatesCursor("not-a-uuid", "2021-01-01"), updatesCursor("00000000-0000-4000-8000-000000000003", "never"),
		updatesCursor("00000000-0000-4000-8000-000000000003", "2021-13-01"), updatesCursor("", ""),
		base64.URLEncoding.EncodeToString([]byte("no comma")), base64.URLEncoding.EncodeToString([]byte{0xff, 0xfe, ','}),
		"", "!!!", "%", "====", "a", strings.Repeat("QUFB", 2000),
	} {
		for _, limit := range []string{"2", "1"} {
			f.Add(c, limit, "")
		}
		f.Add(c, "", "2021-01-01T03:00:00Z")
	}
	f.Fuzz(func(t *testing.T, after, limit, end string) {
		q := url.Values{"start": {"2021-01-01T00:00:00Z"}, "after": {after}}
		if limit != "" {
			q.Set("limit", limit)
		}
		if end != "" {
			q.Set("end", end)
		}
		checkUpdates(t, e.serve(t, e.request("GET", "/updates?"+q.Encode(), nil)))
	})
}

// checkUpdates checks a 200 page of /updates: at most limit items, in
// (update_timestamp, email_id) order, and a cursor exactly when the page is full.
func checkUpdates(t *testing.T, r *response) {
	t.Helper()
	if r.Status != http.StatusOK {
		return
	}
	var page struct {
		Limit int           `json:"limit"`
		Items []updatesItem `json:"items"`
		After *string       `json:"after"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatalf("/updates page: %v: %s", err, r.Body)
	}
	if len(page.Items) > page.Limit || (page.After != nil) != (len(page.Items) == page.Limit) {
		t.Fatalf("/updates page of %d items for limit %d, after %v: %s", len(page.Items), page.Limit, page.After, r.Body)
	}
	if !slices.IsSortedFunc(page.Items, func(a, b updatesItem) int {
		if c := a.Email.UpdateTimestamp.Compare(b.Email.UpdateTimestamp); c != 0 {
			return c
		}
		return strings.Compare(a.Email.EmailID, b.Email.EmailID)
	}) {
		t.Fatalf("/updates items out of order: %s", r.Body)
	}
}

type updatesItem struct {
	Email struct {
		EmailID         string    `json:"email_id"`
		UpdateTimestamp time.Time `json:"update_timestamp"`
	} `json:"email"`
}
