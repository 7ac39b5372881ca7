package httpapi_test

// Benchmarks of the hot in-process paths (issue 5). The ones without a database run
// anywhere:
//
//	go test ./internal/httpapi -run '^$' -bench 'Validate|Encode' -benchmem
//
// The others need CTMS_TEST_DB_URL (make test sets it; or
// CTMS_TEST_DB_URL=postgresql://postgres@127.0.0.1:5432/postgres) and skip without it.
// A CPU profile of the whole request path:
//
//	go test ./internal/httpapi -run '^$' -bench Handler -cpuprofile cpu.out && go tool pprof -top cpu.out

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

// benchContactBody is a typical sign-up with an FxA account (a new fxa_id each time: it
// is unique): two newsletters and a waitlist.
func benchContactBody(email string, id *uuid.UUID) []byte {
	idField := ""
	if id != nil {
		idField = `"email_id":"` + id.String() + `",`
	}
	return []byte(`{"email":{` + idField + `"primary_email":"` + email + `","basket_token":null,` +
		`"first_name":"Ada","last_name":"Lovelace","mailing_country":"fr","email_lang":"fr","email_format":"H"},` +
		`"fxa":{"fxa_id":"` + strings.ReplaceAll(uuid.NewString(), "-", "") + `","primary_email":"` + email + `",` +
		`"created_date":"2021-06-16T10:03:00.123456+00:00","lang":"fr,fr-FR;q=0.7,en;q=0.3","first_service":"sync"},` +
		`"newsletters":[{"name":"mozilla-and-you","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/newsletter/"},` +
		`{"name":"firefox-news","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/firefox/new/"}],` +
		`"waitlists":[{"name":"vpn","source":"https://www.mozilla.org/fr/products/vpn/","fields":{"geo":"fr","platform":"windows,mac"}}]}`)
}

const benchPatchBody = `{"newsletters":[{"name":"mozilla-and-you","subscribed":false}],"email":{"first_name":"Augusta"}}`

// ---- request validation (kin-openapi with the options of the old single-pass validator; no database) ----

// benchRoute finds a spec operation the way the middleware indexes them.
func benchRoute(b *testing.B, method, path string) *routers.Route {
	b.Helper()
	spec, err := api.GetSwagger()
	if err != nil {
		b.Fatal(err)
	}
	spec.Servers = nil
	item := spec.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		b.Fatalf("no operation %s %s in the spec", method, path)
	}
	return &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
}

// BenchmarkValidateRequest is the schema validation of the request (parameters and
// body) with the middleware's options: the share of a request spent in kin-openapi.
func BenchmarkValidateRequest(b *testing.B) {
	id := uuid.New()
	cases := []struct {
		name, method, path, url string
		params                  map[string]string
		body                    []byte
	}{
		{"POST", http.MethodPost, "/ctms", "/ctms", nil, benchContactBody("ada@example.com", nil)},
		{"PUT", http.MethodPut, "/ctms/{email_id}", "/ctms/" + id.String(), map[string]string{"email_id": id.String()},
			benchContactBody("ada@example.com", &id)},
		{"PATCH", http.MethodPatch, "/ctms/{email_id}", "/ctms/" + id.String(), map[string]string{"email_id": id.String()},
			[]byte(benchPatchBody)},
		{"GET_by_id", http.MethodGet, "/ctms/{email_id}", "/ctms/" + id.String(), map[string]string{"email_id": id.String()}, nil},
		{"GET_by_email", http.MethodGet, "/ctms", "/ctms?primary_email=ada%40example.com", nil, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			route := benchRoute(b, c.method, c.path)
			opts := &openapi3filter.Options{MultiError: true, KeepValidatedValue: true,
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
			ctx := context.Background()
			b.ReportAllocs()
			if c.body != nil {
				b.SetBytes(int64(len(c.body)))
			}
			for b.Loop() {
				req := httptest.NewRequest(c.method, c.url, bytes.NewReader(c.body))
				if c.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				in := &openapi3filter.RequestValidationInput{Request: req, PathParams: c.params, Route: route, Options: opts}
				if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ---- JSON encoding of a contact response (encoding/json of the generated model) ----

const benchContactResponse = `{"amo":{"add_on_ids":null,"display_name":null,"email_opt_in":false,"language":null,
"last_login":null,"location":null,"profile_url":null,"user":false,"user_id":null,"username":null,
"create_timestamp":null,"update_timestamp":null},
"email":{"primary_email":"ada.lovelace1234@example.com","basket_token":"c4a7d759-bb52-457b-896b-90f1d3ef8433",
"double_opt_in":true,"sfdc_id":"001A000023aABcDEFG","first_name":"Ada","last_name":"Lovelace","mailing_country":"fr",
"email_format":"H","email_lang":"fr","has_opted_out_of_email":false,"unsubscribe_reason":null,
"email_id":"332de237-cab7-4461-bcc3-48e68f42bd5c","create_timestamp":"2021-03-28T15:41:00.123456+00:00",
"update_timestamp":"2023-01-28T21:26:57.511000+00:00"},
"fxa":{"fxa_id":"6eb6ed6ac3b64259968aa490c6c0b9df","primary_email":"ada.lovelace1234@example.com",
"created_date":"2021-06-16T10:03:00.123456+00:00","lang":"fr,fr-FR;q=0.7,en;q=0.3","first_service":"sync","account_deleted":false},
"mofo":{"mofo_email_id":null,"mofo_contact_id":null,"mofo_relevant":false},
"newsletters":[
{"name":"firefox-news","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/firefox/new/","unsub_reason":null,"create_timestamp":"2021-03-28T15:41:00.123456+00:00","update_timestamp":"2021-03-28T15:41:00.123456+00:00"},
{"name":"mozilla-and-you","subscribed":true,"format":"H","lang":"fr","source":"https://www.mozilla.org/fr/newsletter/","unsub_reason":null,"create_timestamp":"2021-03-28T15:41:00.123456+00:00","update_timestamp":"2022-03-28T15:41:00.123456+00:00"},
{"name":"mozilla-foundation","subscribed":false,"format":"H","lang":"fr","source":"https://foundation.mozilla.org/fr/","unsub_reason":"too many emails","create_timestamp":"2021-03-28T15:41:00.123456+00:00","update_timestamp":"2022-03-28T15:41:00.123456+00:00"}],
"waitlists":[{"name":"vpn","source":"https://www.mozilla.org/fr/products/vpn/","fields":{"geo":"fr","platform":"windows,mac"},"subscribed":true,"unsub_reason":null,"create_timestamp":"2021-03-28T15:41:00.123456+00:00","update_timestamp":"2021-03-28T15:41:00.123456+00:00"}],
"vpn_waitlist":{"geo":"fr","platform":"windows,mac"},"relay_waitlist":{"geo":null},"status":"ok"}`

// BenchmarkEncodeContact is the JSON encoding of one GET /ctms/{email_id} response.
func BenchmarkEncodeContact(b *testing.B) {
	var resp api.CTMSSingleResponse
	if err := json.Unmarshal([]byte(benchContactResponse), &resp); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(resp); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// ---- with a database: contact load and whole requests in-process ----

// benchServer is a handler on this package's test database, an admin-role client's
// token and a few stored contacts (parallel writers each take their own).
type benchServer struct {
	handler http.Handler
	store   *store.Store
	authz   string
	ids     []uuid.UUID
	emails  []string
	seq     atomic.Int64
}

const benchContacts = 100 // a full /updates page

var (
	benchOnce sync.Once
	benchSrv  *benchServer
	benchErr  error
)

func benchSetup(b *testing.B) *benchServer {
	b.Helper()
	if os.Getenv(testdb.EnvURL) == "" {
		b.Skipf("%s is not set (make test sets it)", testdb.EnvURL)
	}
	pool := testdb.Pool(b)
	benchOnce.Do(func() {
		ctx := context.Background()
		const key = "bench-secret-key-that-is-long-enough-for-hs256"
		cfg := &config.Config{SecretKey: key, TokenExpiration: time.Hour, ServerPrefix: "http://testserver",
			AppDir: os.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10, EnforcePermissions: true}
		s := &benchServer{store: store.New(pool)}
		// The client cache of `ctms serve`: the feed lives as long as the test binary.
		feed := accessfeed.Start(&pool.Config().ConnConfig.Config, nil)
		s.handler, benchErr = httpapi.New(ctx, cfg, pool, pool, httpapi.WithLogger(slog.New(slog.DiscardHandler)),
			httpapi.WithAccessFeed(feed))
		if benchErr != nil {
			return
		}
		clientID := "bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		var hash string
		if hash, benchErr = auth.HashSecret("bench-secret"); benchErr != nil {
			return
		}
		if _, benchErr = pool.Exec(ctx, `INSERT INTO api_client (client_id, email, enabled, hashed_secret)
			VALUES ($1, $2, true, $3)`, clientID, clientID+"@example.com", hash); benchErr != nil {
			return
		}
		if _, benchErr = pool.Exec(ctx, `INSERT INTO api_client_roles (api_client_id, role_id)
			SELECT $1, id FROM roles WHERE name = 'admin'`, clientID); benchErr != nil {
			return
		}
		token, err := auth.MintToken(key, clientID, time.Hour, time.Now())
		if err != nil {
			benchErr = err
			return
		}
		s.authz = "Bearer " + token
		for range benchContacts {
			id, email := uuid.New(), "bench."+uuid.NewString()[:8]+"@example.com"
			if rec := s.serve(http.MethodPut, "/ctms/"+id.String(), benchContactBody(email, &id)); rec.Code != http.StatusCreated {
				benchErr = fmt.Errorf("create a benchmark contact: %d %s", rec.Code, rec.Body)
				return
			}
			s.ids, s.emails = append(s.ids, id), append(s.emails, email)
		}
		benchSrv = s
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSrv
}

func (s *benchServer) serve(method, target string, body []byte) *httptest.ResponseRecorder {
	var req *http.Request
	if body != nil {
		req = httptest.NewRequest(method, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.Header.Set("Authorization", s.authz)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// BenchmarkStoreContact is store.Contact: one contact read from PostgreSQL and decoded.
func BenchmarkStoreContact(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.store.Contact(ctx, s.ids[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCase is one request kind; k picks the contact (parallel writers use their own).
type benchCase struct {
	name   string
	method string
	target func(k int) string
	body   func(k int) []byte
	want   int
}

func benchCases(s *benchServer) []benchCase {
	byID := func(k int) string { return "/ctms/" + s.ids[k].String() }
	return []benchCase{
		{"GET_by_id", http.MethodGet, byID, nil, http.StatusOK},
		{"GET_by_email", http.MethodGet, func(k int) string { return "/ctms?primary_email=" + s.emails[k] }, nil, http.StatusOK},
		{"GET_identities", http.MethodGet, func(k int) string { return "/identities?primary_email=" + s.emails[k] }, nil, http.StatusOK},
		{"GET_updates_100", http.MethodGet, func(int) string { return "/updates?start=2000-01-01T00:00:00Z&limit=100" }, nil, http.StatusOK},
		{"PATCH", http.MethodPatch, byID, func(int) []byte { return []byte(benchPatchBody) }, http.StatusOK},
		// Stops at validation (422), after authentication: the middleware without the store.
		{"PATCH_invalid", http.MethodPatch, byID, func(int) []byte { return []byte(`{"email":{"email_format":"X"}}`) },
			http.StatusUnprocessableEntity},
		{"PUT", http.MethodPut, byID, func(k int) []byte { return benchContactBody(s.emails[k], &s.ids[k]) }, http.StatusCreated},
		{"POST", http.MethodPost, func(int) string { return "/ctms" }, func(int) []byte {
			return benchContactBody(fmt.Sprintf("bench.post.%d.%s@example.com", s.seq.Add(1), uuid.NewString()[:8]), nil)
		}, http.StatusCreated},
	}
}

func (s *benchServer) run(b *testing.B, c benchCase, k int) {
	var body []byte
	if c.body != nil {
		body = c.body(k)
	}
	if rec := s.serve(c.method, c.target(k), body); rec.Code != c.want {
		b.Fatalf("%s %s: %d, want %d: %s", c.method, c.target(k), rec.Code, c.want, rec.Body)
	}
}

// BenchmarkHandler is whole requests through every middleware and the handler, one at a
// time, in-process (no network): the latency of each operation, database round trips
// included.
func BenchmarkHandler(b *testing.B) {
	s := benchSetup(b)
	for _, c := range benchCases(s) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				s.run(b, c, 0)
			}
			reportCPU(b, cpu)
		})
	}
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU µs per operation since start: the Go side's
// cost of a request (PostgreSQL runs in its own processes), the figure of
// issue 12's target (server CPU per request), where ns/op also counts waiting.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkHandlerParallel is the same with 8 requests in flight per CPU, so the CPU
// profile shows where the server spends its CPU under load rather than waiting.
func BenchmarkHandlerParallel(b *testing.B) {
	s := benchSetup(b)
	for _, c := range benchCases(s) {
		b.Run(c.name, func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				k := int(next.Add(1)-1) % benchContacts
				for pb.Next() {
					s.run(b, c, k)
				}
			})
		})
	}
}
