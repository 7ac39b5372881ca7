package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
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

// newAPI starts a server; each test gets its own API client (id_<random>).
func newAPI(t *testing.T) *apiTest {
	t.Helper()
	pool := testdb.Pool(t)
	cfg := &config.Config{
		SecretKey: testSecretKey, TokenExpiration: time.Hour, ServerPrefix: "http://testserver",
		AppDir: t.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10,
	}
	h, err := httpapi.New(context.Background(), cfg, pool, pool)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &apiTest{t: t, srv: srv, pool: pool, cfg: cfg}
	a.clientID, a.secret = a.createClient(true)
	a.token = a.tokenFor(a.clientID)
	return a
}

// createClient inserts an API client with a real argon2 hash of a fresh secret.
func (a *apiTest) createClient(enabled bool) (id, secret string) {
	a.t.Helper()
	id = "id_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	secret, err := auth.NewSecret()
	require.NoError(a.t, err)
	hash, err := auth.HashSecret(secret)
	require.NoError(a.t, err)
	_, err = a.pool.Exec(context.Background(),
		`INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ($1, $2, $3, $4)`,
		id, id+"@example.com", enabled, hash)
	require.NoError(a.t, err)
	return id, secret
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
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(a.t, err)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(raw))
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	for _, o := range opts {
		o(req)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	out := &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	a.checkContract(req, out)
	return out
}

// checkContract validates a response against the spec operation it answers.
func (a *apiTest) checkContract(req *http.Request, resp *response) {
	a.t.Helper()
	route, params, err := contractRouter(a.t).FindRoute(req)
	if err != nil {
		return // not a spec operation (unknown path, docs, ...)
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
