package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

const testSecretKey = "test-secret-key-that-is-long-enough-for-hs256"

// apiTest is a running server (real HTTP over loopback) on this package's database,
// with an enabled API client and a valid token for it.
type apiTest struct {
	t        *testing.T
	srv      *httptest.Server
	pool     *pgxpool.Pool
	cfg      *config.Config
	clientID string
	secret   string
	token    string
}

var (
	specRouter     routers.Router
	specRouterOnce sync.Once
)

// contractRouter finds spec operations for response validation (the contract test).
func contractRouter(t *testing.T) routers.Router {
	specRouterOnce.Do(func() {
		spec, err := api.GetSwagger()
		require.NoError(t, err)
		spec.Servers = nil
		specRouter, err = gorillamux.NewRouter(spec)
		require.NoError(t, err)
	})
	return specRouter
}

// newAPI starts a server on the package's database; each test gets its own
// API client (id_<random>) holding the role admin, with permissions enforced.
func newAPI(t *testing.T) *apiTest {
	t.Helper()
	return newAPIOn(t, testdb.Pool(t))
}

// newAPIOn is newAPI on a given database. Every server logs into packageLogs,
// which TestMain scans for personal data after the whole run.
func newAPIOn(t *testing.T, pool *pgxpool.Pool, opts ...httpapi.Option) *apiTest {
	t.Helper()
	return newAPIWith(t, pool, nil, opts...)
}

// newAPIWith is newAPIOn with configure (when not nil) changing the configuration first.
func newAPIWith(t *testing.T, pool *pgxpool.Pool, configure func(*config.Config), opts ...httpapi.Option) *apiTest {
	t.Helper()
	cfg := &config.Config{
		SecretKey: testSecretKey, TokenExpiration: time.Hour, ServerPrefix: "http://testserver",
		AppDir: t.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10, EnforcePermissions: true,
		RequestDBTimeout: 10 * time.Second,
	}
	if configure != nil {
		configure(cfg)
	}
	// As `ctms migrate` does before any server starts: a test deleting a contact while
	// another installs the key would otherwise see one tombstone unkeyed, the next keyed.
	keyed(t, pool)
	a := &apiTest{t: t, pool: pool, cfg: cfg}
	a.clientID, a.secret = a.createClient(true)
	a.token = a.tokenFor(a.clientID)
	// No access feed, so no client cache (unless a test passes httpapi.WithAccessFeed): tests
	// disable and delete clients and expect the next request to see it. Unknown client ids are
	// verified against a hash as cheap as createClient's.
	opts = append([]httpapi.Option{httpapi.WithLogger(obs.NewLogger(&packageLogs, true, slog.LevelDebug)),
		httpapi.WithDummyHash(testHash("", 64, 1))}, opts...)
	h, err := httpapi.New(context.Background(), cfg, pool, pool, opts...)
	require.NoError(t, err)
	a.srv = startServer(t, h)
	return a
}

// grant gives a client a role (created when missing, as the CLI would).
func (a *apiTest) grant(clientID, role string) {
	a.t.Helper()
	testdb.Grant(a.t, a.pool, clientID, role)
}

// createClient inserts an API client with an argon2id hash of a fresh secret.
// The hash uses small parameters (verification honours those recorded in the
// PHC string): the defaults cost 64 MiB and three passes per client, the bulk
// of this package's CPU time. TestTokenWithDefaultHash covers the real ones.
func (a *apiTest) createClient(enabled bool) (id, secret string) {
	a.t.Helper()
	secret, err := auth.NewSecret()
	require.NoError(a.t, err)
	id = a.insertClient(enabled, testHash(secret, 64, 1))
	a.grant(id, "admin")
	return id, secret
}

// testHash is an argon2id hash of secret with memory m KiB and t passes (p=1).
func testHash(secret string, m, t uint32) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=1$%s$%s", argon2.Version, m, t,
		b64.EncodeToString(salt), b64.EncodeToString(argon2.IDKey([]byte(secret), salt, t, m, 1, 32)))
}

// insertClient stores a client with the given hash; it returns its id.
func (a *apiTest) insertClient(enabled bool, hash string) (id string) {
	a.t.Helper()
	return testdb.InsertClient(a.t, a.pool, enabled, hash)
}

func (a *apiTest) tokenFor(clientID string) string {
	tok, err := auth.MintToken(testSecretKey, clientID, time.Hour, time.Now())
	require.NoError(a.t, err)
	return tok
}

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r *response) JSON(t *testing.T) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(r.Body, &v), "body: %s", r.Body)
	return v
}

// Object decodes the body as a JSON object.
func (r *response) Object(t *testing.T) map[string]any {
	t.Helper()
	v, ok := r.JSON(t).(map[string]any)
	require.True(t, ok, "body is not an object: %s", r.Body)
	return v
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// noAuth drops the default bearer token.
func noAuth() reqOpt { return func(r *http.Request) { r.Header.Del("Authorization") } }

// do sends a request with the test client's token; body is JSON-encoded unless
// it is a string or []byte (sent as is). Every response to a spec operation is
// validated against api/openapi.yaml.
func (a *apiTest) do(method, path string, body any, opts ...reqOpt) *response {
	a.t.Helper()
	out, err := a.send(method, path, body, opts...)
	require.NoError(a.t, err)
	return out
}

// send is do for other goroutines: it reports failures instead of stopping the test.
func (a *apiTest) send(method, path string, body any, opts ...reqOpt) (*response, error) {
	a.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = a.srv.URL + path
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	for _, o := range opts {
		o(req)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	a.checkContract(req, out)
	return out, nil
}

// checkContract validates a response against the spec operation it answers.
func (a *apiTest) checkContract(req *http.Request, resp *response) {
	a.t.Helper()
	route, params, err := contractRouter(a.t).FindRoute(req)
	if err != nil {
		return // not a spec operation (unknown path, docs, ...)
	}
	// Every status a handler test receives is one the spec declares for the operation
	// (the statuses of the request stages: stages_test.go).
	if route.Operation.Responses.Value(strconv.Itoa(resp.Status)) == nil {
		a.t.Errorf("contract: %s %s answered %d, which api/openapi.yaml does not declare for %s %s",
			req.Method, req.URL.Path, resp.Status, route.Method, route.Path)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		a.t.Errorf("contract: %s %s -> %d does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, resp.Status, err, resp.Body)
	}
}

// ---- helpers shared by the handler tests ----

// obj and arr keep JSON literals short.
type (
	obj = map[string]any
	arr = []any
)

// newEmail is a unique primary email (mixed case, as clients send them).
func newEmail() string { return "User." + uuid.NewString() + "@Example.com" }

// newContact is a minimal POST/PUT body with a fresh v4 email_id.
func newContact() (id string, body obj) {
	id = uuid.NewString()
	return id, obj{"email": obj{"email_id": id, "primary_email": newEmail()}}
}

// create POSTs body and requires 201; it returns the response object.
func (a *apiTest) create(body obj) map[string]any {
	a.t.Helper()
	r := a.do("POST", "/ctms", body)
	require.Equal(a.t, http.StatusCreated, r.Status, "%s", r.Body)
	return r.Object(a.t)
}

// get reads a contact and requires 200.
func (a *apiTest) get(id string) map[string]any {
	a.t.Helper()
	r := a.do("GET", "/ctms/"+id, nil)
	require.Equal(a.t, http.StatusOK, r.Status, "%s", r.Body)
	return r.Object(a.t)
}

// exec runs SQL on the test database.
func (a *apiTest) exec(sql string, args ...any) {
	a.t.Helper()
	testdb.Exec(a.t, a.pool, sql, args...)
}

// count runs a SELECT count(*) ... query.
func (a *apiTest) count(sql string, args ...any) int {
	a.t.Helper()
	return testdb.Count(a.t, a.pool, sql, args...)
}

// rowsOf counts the rows of a contact in every table, for "nothing was written" checks.
func (a *apiTest) rowsOf(id string) map[string]int {
	a.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"emails", "amo", "fxa", "mofo", "newsletters", "waitlists"} {
		out[table] = a.count("SELECT count(*) FROM "+table+" WHERE email_id::text = $1", id)
	}
	return out
}

// noRows requires that the contact has no row anywhere.
func (a *apiTest) noRows(id string) {
	a.t.Helper()
	require.Equal(a.t, map[string]int{"emails": 0, "amo": 0, "fxa": 0, "mofo": 0, "newsletters": 0, "waitlists": 0}, a.rowsOf(id))
}

// setUpdated sets emails.update_timestamp of the contacts directly.
func (a *apiTest) setUpdated(ts time.Time, ids ...string) {
	a.t.Helper()
	a.exec(`UPDATE emails SET update_timestamp = $1 WHERE email_id::text = ANY($2)`, ts, ids)
}

// seed inserts n bare contacts updated at ts (fast, for /updates); it returns their ids.
func (a *apiTest) seed(n int, ts time.Time) []string {
	a.t.Helper()
	ids := make([]string, n)
	emails := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		emails[i] = newEmail()
	}
	a.exec(`INSERT INTO emails (email_id, primary_email, email_format, email_lang, double_opt_in,
		has_opted_out_of_email, create_timestamp, update_timestamp)
		SELECT id::uuid, e, 'H', 'en', false, false, $3, $3 FROM unnest($1::text[], $2::text[]) AS x(id, e)`,
		ids, emails, ts)
	return ids
}

// detail requires the status and a string detail.
func requireDetail(t *testing.T, r *response, status int, detail string) {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Body)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, obj{"detail": detail}, r.Object(t), "%s", r.Body)
}

// validationErrors requires a 422 with a FastAPI-style list and returns it.
func validationErrors(t *testing.T, r *response) []map[string]any {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	list, ok := r.Object(t)["detail"].([]any)
	require.True(t, ok, "detail is not a list: %s", r.Body)
	require.NotEmpty(t, list)
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i] = it.(map[string]any)
	}
	return out
}

// errorAt returns the 422 entry at loc, failing when there is none.
func errorAt(t *testing.T, r *response, loc ...any) map[string]any {
	t.Helper()
	want, _ := json.Marshal(loc)
	var locs []string
	for _, it := range validationErrors(t, r) {
		got, _ := json.Marshal(it["loc"])
		if string(got) == string(want) {
			return it
		}
		locs = append(locs, string(got))
	}
	require.Failf(t, "no error at loc", "want %s, have %v\n%s", want, locs, r.Body)
	return nil
}

// at walks a decoded JSON value: string keys for objects, ints for arrays.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "not an object at %v", p)
			v, ok = m[k]
			require.True(t, ok, "no key %q", k)
		case int:
			l, ok := v.([]any)
			require.True(t, ok, "not a list at %v", p)
			require.Less(t, k, len(l))
			v = l[k]
		}
	}
	return v
}

// list decodes a JSON array body.
func (r *response) List(t *testing.T) []any {
	t.Helper()
	v, ok := r.JSON(t).([]any)
	require.True(t, ok, "body is not a list: %s", r.Body)
	return v
}

// strRepeat is a string of n characters (non-ASCII, so lengths count characters).
func strRepeat(n int) string { return strings.Repeat("é", n) }

// on is the same server and client for a subtest: helpers report to t.
func (a *apiTest) on(t *testing.T) *apiTest {
	b := *a
	b.t = t
	return &b
}
