package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines parsed as JSON objects.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 16<<20) // a line over the default 64 KB must fail its test, not end the scan
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line is not JSON: %s", sc.Text())
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}

// observedAPI is an apiTest whose logs and metrics the test can read.
type observedAPI struct {
	*apiTest
	logs    *syncBuffer
	metrics *obs.Metrics
}

func newObservedAPI(t *testing.T, pinger httpapi.Pinger) *observedAPI {
	t.Helper()
	a := newAPI(t) // creates this test's client before the server below starts
	logs := &syncBuffer{}
	m := obs.NewMetrics()
	if pinger == nil {
		pinger = a.pool
	}
	h, err := httpapi.New(context.Background(), a.cfg, a.pool, pinger,
		httpapi.WithMetrics(m), httpapi.WithLogger(obs.NewLogger(io.MultiWriter(logs, &packageLogs), true, slog.LevelDebug)))
	require.NoError(t, err)
	a.srv = startServer(t, h)
	return &observedAPI{apiTest: a, logs: logs, metrics: m}
}

// families gathers the registry through its /metrics text exposition.
func (o *observedAPI) families(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	r := o.do("GET", "/metrics", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, r.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	require.NoError(t, err)
	return fams
}

// sample finds the value of the series with exactly these labels (ok=false if absent).
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsFamiliesAndPreinit(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	fams := o.families(t)
	for _, name := range []string{"ctms_requests_total", "ctms_requests_duration_seconds", "ctms_api_requests_total", "ctms_contacts_total"} {
		require.Contains(t, fams, name)
	}
	require.Equal(t, dto.MetricType_HISTOGRAM, fams["ctms_requests_duration_seconds"].GetType())
	var bounds []float64
	for _, b := range fams["ctms_requests_duration_seconds"].Metric[0].Histogram.Bucket {
		bounds = append(bounds, b.GetUpperBound())
	}
	require.Equal(t, append(append([]float64(nil), obs.DurationBuckets...), math.Inf(1)), bounds)

	// Series exist at zero before any traffic: every documented code of a route,
	// and every API route × {2xx,4xx} × enabled client.
	v, ok := sample(fams, "ctms_requests_total", map[string]string{"method": "PATCH", "path_template": "/ctms/{email_id}", "status_code": "409", "status_code_family": "4xx"})
	require.True(t, ok)
	require.Zero(t, v)
	v, ok = sample(fams, "ctms_api_requests_total", map[string]string{"method": "GET", "path_template": "/updates", "client_id": o.clientID, "status_code_family": "4xx"})
	require.True(t, ok)
	require.Zero(t, v)
	_, ok = sample(fams, "ctms_requests_duration_seconds", map[string]string{"method": "DELETE", "path_template": "/ctms/{primary_email}", "status_code_family": "2xx"})
	require.True(t, ok)
	_, ok = sample(fams, "ctms_requests_total", map[string]string{"method": "GET", "path_template": "/", "status_code": "307", "status_code_family": "3xx"})
	require.True(t, ok)
	for _, route := range [][2]string{{"POST", "/token"}, {"GET", "/__heartbeat__"}, {"HEAD", "/__lbheartbeat__"}, {"GET", "/metrics"}, {"GET", "/__version__"}} {
		_, ok = sample(fams, "ctms_requests_total", map[string]string{"method": route[0], "path_template": route[1], "status_code": "200", "status_code_family": "2xx"})
		require.True(t, ok, "%s %s is pre-created", route[0], route[1])
	}
}

func TestMetricsCountRequestsByRouteTemplate(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	id := uuid.NewString()
	get := map[string]string{"method": "GET", "path_template": "/ctms/{email_id}", "status_code": "404", "status_code_family": "4xx"}
	api := map[string]string{"method": "GET", "path_template": "/ctms/{email_id}", "client_id": o.clientID, "status_code_family": "4xx"}
	dur := map[string]string{"method": "GET", "path_template": "/ctms/{email_id}", "status_code_family": "4xx"}
	before := o.families(t)
	b1, _ := sample(before, "ctms_requests_total", get)
	b2, _ := sample(before, "ctms_api_requests_total", api)
	b3, _ := sample(before, "ctms_requests_duration_seconds", dur)

	require.Equal(t, http.StatusNotFound, o.do("GET", "/ctms/"+id, nil).Status)
	require.Equal(t, http.StatusNotFound, o.do("GET", "/ctms/"+uuid.NewString(), nil).Status)
	require.Equal(t, http.StatusNotFound, o.do("GET", "/no/such/path", nil).Status)
	require.Equal(t, http.StatusMethodNotAllowed, o.do("PUT", "/updates", nil).Status)

	after := o.families(t)
	a1, _ := sample(after, "ctms_requests_total", get)
	a2, _ := sample(after, "ctms_api_requests_total", api)
	a3, _ := sample(after, "ctms_requests_duration_seconds", dur)
	require.Equal(t, b1+2, a1)
	require.Equal(t, b2+2, a2)
	require.Equal(t, b3+2, a3)
	for _, f := range after {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "path_template" {
					require.NotContains(t, l.GetValue(), id, "raw paths must never be labels")
					require.NotEqual(t, "/no/such/path", l.GetValue(), "unmatched paths are not recorded")
				}
			}
		}
	}
	_, ok := sample(after, "ctms_requests_total", map[string]string{"method": "PUT", "path_template": "/updates", "status_code": "405", "status_code_family": "4xx"})
	require.False(t, ok, "405s are not recorded")
}

func TestRequestSummaryLogLine(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	id := uuid.NewString()
	r := o.do("GET", "/ctms/"+id+"?primary_email=secret@example.com", nil,
		withHeader("X-Request-Id", "foo-bar"), withHeader("User-Agent", "test-agent"))
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "foo-bar", r.Header.Get("X-Request-Id"))

	var summaries []map[string]any
	for _, l := range o.logs.lines(t) {
		if l["Type"] == "request.summary" {
			summaries = append(summaries, l)
		}
	}
	require.Len(t, summaries, 1, "exactly one summary per request")
	s := summaries[0]
	for _, k := range []string{"Timestamp", "Type", "Logger", "Hostname", "EnvVersion", "Severity", "Pid", "Fields"} {
		require.Contains(t, s, k)
	}
	require.Equal(t, "ctms", s["Logger"])
	require.Equal(t, "2.0", s["EnvVersion"])
	require.EqualValues(t, 6, s["Severity"])
	f := s["Fields"].(map[string]any)
	require.Equal(t, "test-agent", f["agent"])
	require.Equal(t, "/ctms/"+id, f["path"], "query strings are never logged")
	require.Equal(t, "GET", f["method"])
	require.EqualValues(t, 404, f["code"])
	require.Nil(t, f["lang"])
	require.Equal(t, "foo-bar", f["rid"])
	require.Equal(t, o.clientID, f["client_id"])
	require.Equal(t, true, f["client_allowed"])
	require.Equal(t, o.clientID, f["uid"])
	require.Contains(t, f, "t")
	require.EqualValues(t, 0, f["errno"])

	// A generated request id is echoed too.
	r = o.do("GET", "/__lbheartbeat__", nil, noAuth())
	_, err := uuid.Parse(r.Header.Get("X-Request-Id"))
	require.NoError(t, err)
}

func TestRequestSummaryAuthFailures(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	o.do("GET", "/ctms/"+uuid.NewString(), nil, withHeader("Authorization", "Bearer not-a-token"), withHeader("X-Request-Id", "bad-token"))
	o.do("POST", "/token", "grant_type=client_credentials&client_id="+o.clientID+"&client_secret=wrong",
		withHeader("Content-Type", "application/x-www-form-urlencoded"), noAuth(), withHeader("X-Request-Id", "bad-secret"))
	byRid := map[string]map[string]any{}
	for _, l := range o.logs.lines(t) {
		if l["Type"] == "request.summary" {
			f := l["Fields"].(map[string]any)
			byRid[f["rid"].(string)] = f
		}
	}
	require.Equal(t, false, byRid["bad-token"]["client_allowed"])
	require.Equal(t, "No or bad token", byRid["bad-token"]["auth_fail"])
	require.Nil(t, byRid["bad-token"]["uid"])
	require.Equal(t, "form", byRid["bad-secret"]["token_creds_from"])
	require.Equal(t, "Bad credentials", byRid["bad-secret"]["token_fail"])
	require.Equal(t, o.clientID, byRid["bad-secret"]["client_id"])
}

func TestNoEmailOrSecretInLogs(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	email := "Private.Person-" + uuid.NewString()[:8] + "@example.com"
	id := uuid.NewString()
	require.Equal(t, http.StatusCreated, o.do("POST", "/ctms", map[string]any{"email": map[string]any{"email_id": id, "primary_email": email}}).Status)
	o.do("GET", "/ctms?primary_email="+email, nil)
	o.do("POST", "/ctms", map[string]any{"email": map[string]any{"primary_email": email}}) // 409
	o.do("DELETE", "/ctms/"+email, nil)
	o.do("DELETE", "/ctms/"+email, nil) // 404
	o.do("GET", "/ctms/"+email, nil)    // 422 (not a UUID)
	o.do("POST", "/token", nil, noAuth(), withHeader("Authorization", basicAuth(o.clientID, o.secret)))
	logs := strings.ToLower(o.logs.buf.String())
	require.NotEmpty(t, logs)
	require.NotContains(t, logs, strings.ToLower(email))
	require.NotContains(t, logs, "@example.com")
	require.NotContains(t, logs, strings.ToLower(o.secret))
	require.NotContains(t, logs, strings.ToLower(o.token))
	require.NotContains(t, logs, "bearer ")
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	t.Run("DatabaseReachable", func(t *testing.T) {
		t.Parallel()
		o := newObservedAPI(t, nil)
		id := uuid.NewString()
		require.Equal(t, http.StatusCreated, o.do("POST", "/ctms", map[string]any{"email": map[string]any{"email_id": id, "primary_email": id + "@example.com"}}).Status)
		_, err := o.pool.Exec(context.Background(), "ANALYZE emails")
		require.NoError(t, err)
		r := o.do("GET", "/__heartbeat__", nil, noAuth())
		require.Equal(t, http.StatusOK, r.Status)
		require.JSONEq(t, `{"status":"ok","checks":{"database":"ok"},"details":{}}`, string(r.Body))
		v, ok := sample(o.families(t), "ctms_contacts_total", map[string]string{})
		require.True(t, ok)
		require.GreaterOrEqual(t, v, 1.0)
		require.Equal(t, http.StatusOK, o.do("HEAD", "/__heartbeat__", nil, noAuth()).Status)
	})
	t.Run("DatabaseUnreachable", func(t *testing.T) {
		t.Parallel()
		dead, err := pgxpool.New(context.Background(), "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
		require.NoError(t, err)
		t.Cleanup(dead.Close)
		o := newObservedAPI(t, dead)
		r := o.do("GET", "/__heartbeat__", nil, noAuth())
		require.Equal(t, http.StatusInternalServerError, r.Status)
		require.JSONEq(t, `{"status":"error","checks":{"database":"error"},"details":{"database":{"status":"error","level":40,"messages":{"db.0001":"Database not reachable"}}}}`, string(r.Body))
		require.Equal(t, http.StatusOK, o.do("GET", "/__lbheartbeat__", nil, noAuth()).Status)
		found := false
		for _, l := range o.logs.lines(t) {
			if l["Type"] == "dockerflow.checks.registry" && l["Severity"] == float64(3) {
				found = true
			}
		}
		require.True(t, found, "the failed check is logged at ERROR")
	})
}

func TestPlatformEndpoints(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	r := o.do("GET", "/__lbheartbeat__", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.Body))

	r = o.do("GET", "/__version__", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	v := r.Object(t)
	for _, k := range []string{"source", "version", "commit", "build"} {
		require.Contains(t, v, k)
	}

	r = o.do("GET", "/", nil, noAuth())
	require.Equal(t, http.StatusTemporaryRedirect, r.Status)
	require.Equal(t, "./docs", r.Header.Get("Location"))

	r = o.do("GET", "/openapi.json", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "ConTact Management System (CTMS)", r.Object(t)["info"].(map[string]any)["title"])

	for path, title := range map[string]string{"/docs": "Swagger UI", "/redoc": "ReDoc"} {
		r = o.do("GET", path, nil, noAuth())
		require.Equal(t, http.StatusOK, r.Status, path)
		body := string(r.Body)
		require.Contains(t, body, "ConTact Management System (CTMS) - "+title)
		require.NotContains(t, body, "cdn.jsdelivr.net", "assets are served by the binary")
		require.NotContains(t, body, "unpkg.com")
	}
	r = o.do("GET", "/redoc/assets/redoc.standalone.js", nil, noAuth())
	require.Equal(t, http.StatusOK, r.Status)
	require.Greater(t, len(r.Body), 100_000)

	// /__crash__ needs a client, then fails on purpose: an uncaught exception,
	// which Starlette's ServerErrorMiddleware answers in plain text.
	require.Equal(t, http.StatusUnauthorized, o.do("GET", "/__crash__", nil, noAuth()).Status)
	r = o.do("GET", "/__crash__", nil)
	require.Equal(t, http.StatusInternalServerError, r.Status)
	require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, "Internal Server Error", string(r.Body))
	time.Sleep(10 * time.Millisecond)
	crashed := false
	for _, l := range o.logs.lines(t) {
		if l["Type"] == "uvicorn.error" {
			crashed = true
			require.NotEmpty(t, l["Fields"].(map[string]any)["rid"])
		}
	}
	require.True(t, crashed)
}

func TestTextLogFormat(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	l := obs.NewLogger(&buf, false, slog.LevelDebug)
	l.InfoContext(obs.WithRequestID(context.Background(), "abc"), "hello", obs.LoggerKey, "ctms.test", "n", 3)
	line := buf.buf.String()
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO     \[abc\] ctms.test       hello n=3\n$`, line)
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return req.Header.Get("Authorization")
}

// The series created at start-up are exactly the Python CTMS's (its dashboards
// and alerts look for them): every route with the status codes below,
// ctms_requests_duration_seconds for their families, and each API route ×
// {2xx, 4xx} × each enabled client id.
func TestMetricsPreinitExactly(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	fams := o.families(t) // its own request is recorded after the answer

	wantRequests := []string{
		// hidden from the OpenAPI document: 200 ({GET, HEAD} where both are served); / 307
		"GET /openapi.json 200", "HEAD /openapi.json 200", "GET /docs 200", "HEAD /docs 200",
		"GET /docs/oauth2-redirect 200", "HEAD /docs/oauth2-redirect 200", "GET /redoc 200", "HEAD /redoc 200",
		"GET /__lbheartbeat__ 200", "HEAD /__lbheartbeat__ 200", "GET /__heartbeat__ 200", "HEAD /__heartbeat__ 200",
		"GET /__version__ 200", "POST /token 200", "GET /__crash__ 200", "GET /metrics 200",
		"GET / 307",
		// the API: the codes the Python CTMS documents, plus 200, plus 422 (POST and PUT: 200, not 201)
		"GET /ctms 200", "GET /ctms 400", "GET /ctms 401", "GET /ctms 422",
		"GET /updates 200", "GET /updates 400", "GET /updates 401", "GET /updates 422",
		"GET /identities 200", "GET /identities 400", "GET /identities 401", "GET /identities 422",
		"GET /ctms/{email_id} 200", "GET /ctms/{email_id} 401", "GET /ctms/{email_id} 404", "GET /ctms/{email_id} 422",
		"GET /identity/{email_id} 200", "GET /identity/{email_id} 401", "GET /identity/{email_id} 404", "GET /identity/{email_id} 422",
		"POST /ctms 200", "POST /ctms 409", "POST /ctms 422",
		"PUT /ctms/{email_id} 200", "PUT /ctms/{email_id} 409", "PUT /ctms/{email_id} 422",
		"PATCH /ctms/{email_id} 200", "PATCH /ctms/{email_id} 404", "PATCH /ctms/{email_id} 409", "PATCH /ctms/{email_id} 422",
		"DELETE /ctms/{primary_email} 200", "DELETE /ctms/{primary_email} 404", "DELETE /ctms/{primary_email} 422",
	}
	require.Len(t, wantRequests, 50)
	// ours, not in the Python CTMS: GET /deletions, pre-created as GET /updates
	wantRequests = append(wantRequests, "GET /deletions 200", "GET /deletions 400", "GET /deletions 401", "GET /deletions 422")
	apiRoutes := []string{"GET /ctms", "GET /updates", "GET /identities", "GET /ctms/{email_id}", "GET /identity/{email_id}",
		"POST /ctms", "PUT /ctms/{email_id}", "PATCH /ctms/{email_id}", "DELETE /ctms/{primary_email}", "GET /deletions"}
	var wantDurations, wantAPI []string
	for _, s := range wantRequests[:17] { // one family per route: its status's
		i := strings.LastIndex(s, " ")
		wantDurations = append(wantDurations, s[:i+2]+"xx")
	}
	for _, r := range apiRoutes {
		wantDurations = append(wantDurations, r+" 2xx", r+" 4xx")
		wantAPI = append(wantAPI, r+" 2xx", r+" 4xx")
	}
	require.Len(t, wantDurations, 35+2)

	series := func(name string, key func(l map[string]string) string) map[string]float64 {
		out := map[string]float64{}
		for _, m := range fams[name].Metric {
			l := map[string]string{}
			for _, p := range m.Label {
				l[p.GetName()] = p.GetValue()
			}
			v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			out[key(l)] = v
		}
		return out
	}
	requireExactly := func(name string, want []string, got map[string]float64) {
		t.Helper()
		var keys []string
		for k, v := range got {
			keys = append(keys, k)
			require.Zero(t, v, "%s %s", name, k)
		}
		require.ElementsMatch(t, want, keys, name)
	}
	requireExactly("ctms_requests_total", wantRequests, series("ctms_requests_total", func(l map[string]string) string {
		require.Equal(t, l["status_code"][:1]+"xx", l["status_code_family"])
		return l["method"] + " " + l["path_template"] + " " + l["status_code"]
	}))
	requireExactly("ctms_requests_duration_seconds", wantDurations, series("ctms_requests_duration_seconds", func(l map[string]string) string {
		return l["method"] + " " + l["path_template"] + " " + l["status_code_family"]
	}))
	perClient := map[string]map[string]float64{}
	series("ctms_api_requests_total", func(l map[string]string) string {
		if perClient[l["client_id"]] == nil {
			perClient[l["client_id"]] = map[string]float64{}
		}
		perClient[l["client_id"]][l["method"]+" "+l["path_template"]+" "+l["status_code_family"]] = 0
		return ""
	})
	require.Contains(t, perClient, o.clientID, "every enabled client at start-up")
	require.NotContains(t, perClient, "none", "the placeholder only when no client is enabled")
	for id, got := range perClient {
		requireExactly("ctms_api_requests_total "+id, wantAPI, got)
	}
}

// X-Request-Id is taken from the request only when it is 1 to 128 of
// [A-Za-z0-9._:-]; otherwise (an e-mail address, quotes, spaces, ...) the request
// gets a new id, echoed and logged instead, and the one sent is nowhere.
func TestRequestIDOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	long := strings.Repeat("r", 128)
	for _, rid := range []string{"foo-bar", long, uuid.NewString(), "1-5f84c7a1.abc_DEF:0"} {
		r := o.do("GET", "/__lbheartbeat__", nil, noAuth(), withHeader("X-Request-Id", rid))
		require.Equal(t, rid, r.Header.Get("X-Request-Id"))
	}
	address := "Request.Id-" + uuid.NewString()[:8] + "@example.com"
	refused := []string{address, "x@y", long + "r", "with space", "tab\there", "caf\u00e9", "\u00ff", "!~{}\"'<>", "a/b", "<script>"}
	for _, rid := range refused {
		r := o.do("GET", "/__lbheartbeat__", nil, noAuth(), withHeader("X-Request-Id", rid))
		got := r.Header.Get("X-Request-Id")
		require.NotEqual(t, rid, got, "%q is not taken", rid)
		_, err := uuid.Parse(got)
		require.NoError(t, err, "a new id replaces %q: %q", rid, got)
	}
	logs := o.logs.String()
	require.NotContains(t, strings.ToLower(logs), strings.ToLower(address))
	require.NotContains(t, logs, "@")
	for _, l := range o.logs.lines(t) {
		rid, _ := l["Fields"].(map[string]any)["rid"].(string)
		require.Regexp(t, `^[A-Za-z0-9._:-]{1,128}$`, rid)
	}
}

// The texts of a request.summary line that the client chose (User-Agent,
// Accept-Language, path, method) are logged bounded (256 bytes, then marked as
// truncated), as printable ASCII, and without an e-mail address.
func TestRequestSummaryClientTextsBounded(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	huge := func(c string) string { return strings.Repeat(c, 60_000) }
	summary := func(rid string) map[string]any {
		t.Helper()
		for _, l := range o.logs.lines(t) {
			if f := l["Fields"].(map[string]any); l["Type"] == "request.summary" && f["rid"] == rid {
				return f
			}
		}
		t.Fatalf("no request.summary line with rid %q", rid)
		return nil
	}
	const mark = "...[truncated]"

	o.do("GET", "/__lbheartbeat__", nil, noAuth(), withHeader("X-Request-Id", "huge-headers"),
		withHeader("User-Agent", huge("A")), withHeader("Accept-Language", huge("L")))
	f := summary("huge-headers")
	require.Equal(t, strings.Repeat("A", 256)+mark, f["agent"])
	require.Equal(t, strings.Repeat("L", 256)+mark, f["lang"])

	require.Equal(t, http.StatusNotFound, o.do("GET", "/"+huge("p"), nil, noAuth(), withHeader("X-Request-Id", "huge-path")).Status)
	require.Equal(t, "/"+strings.Repeat("p", 255)+mark, summary("huge-path")["path"])

	o.do(huge("M"), "/nowhere", nil, noAuth(), withHeader("X-Request-Id", "huge-method"))
	require.Equal(t, strings.Repeat("M", 256)+mark, summary("huge-method")["method"])

	address := "Crawler.Ops-" + uuid.NewString()[:8] + "@example.com"
	o.do("GET", "/__lbheartbeat__", nil, noAuth(), withHeader("X-Request-Id", "addresses"),
		withHeader("User-Agent", "crawler/1.0 (+mailto:"+address+"; tab\there caf\u00e9)"),
		withHeader("Accept-Language", address+", fr;q=0.5"))
	f = summary("addresses")
	require.Equal(t, "crawler/1.0 (+mailto:[redacted]; tab?here caf?)", f["agent"])
	require.Equal(t, "[redacted], fr;q=0.5", f["lang"])

	// A plain header is logged as sent.
	o.do("GET", "/__lbheartbeat__", nil, noAuth(), withHeader("X-Request-Id", "plain"),
		withHeader("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) basket/1.2"), withHeader("Accept-Language", "de-DE,de;q=0.9,en;q=0.8"))
	f = summary("plain")
	require.Equal(t, "Mozilla/5.0 (X11; Linux x86_64) basket/1.2", f["agent"])
	require.Equal(t, "de-DE,de;q=0.9,en;q=0.8", f["lang"])

	logs := o.logs.String()
	require.NotContains(t, strings.ToLower(logs), strings.ToLower(address))
	require.NotContains(t, logs, "@")
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		require.Less(t, len(line), 2048, "a bounded log line: %.300s", line)
	}
}

// The error lines of a request (here: its database is gone) are written by the
// server's logger, like its request.summary line, not by the process default.
func TestErrorLinesGoThroughServerLogger(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	a := newAPIOn(t, pool)
	logs := &syncBuffer{}
	h, err := httpapi.New(context.Background(), a.cfg, pool, pool,
		httpapi.WithLogger(obs.NewLogger(io.MultiWriter(logs, &packageLogs), true, slog.LevelDebug)))
	require.NoError(t, err)
	a.srv = startServer(t, h)
	pool.Close()

	r := a.do("GET", "/ctms/"+uuid.NewString(), nil)
	require.GreaterOrEqual(t, r.Status, 500, "%s", r.Body)
	var msgs []string
	for _, l := range logs.lines(t) {
		if msg, ok := l["Fields"].(map[string]any)["msg"].(string); ok {
			msgs = append(msgs, msg)
		}
	}
	require.NotEmpty(t, msgs)
	require.Contains(t, []string{"database unavailable", "request failed"}, msgs[0], "logged: %q", msgs)
}
