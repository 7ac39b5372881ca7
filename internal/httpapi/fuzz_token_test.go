package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/common/expfmt"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// The API clients of FuzzToken's database: the only ids its metrics and log
// may name.
const (
	fuzzTokenID       = "id_fuzz_token"
	fuzzTokenDisabled = "id_fuzz_disabled"
	fuzzTokenBadHash  = "id_fuzz_badhash" // hash out of bounds: refused and logged
	fuzzTokenSecret   = "secret_fuzz_right"
)

// summaryKeys are the fields a request.summary line of POST /token may have.
var summaryKeys = []string{"agent", "path", "method", "code", "lang", "t", "rid", "errno", "client_id", "uid", "token_creds_from", "token_fail"}

// FuzzToken drives POST /token with any form body, content type and
// Authorization header through the whole handler. Invariants: no 5xx, a
// response valid against the spec, and nothing submitted in /metrics or the
// log: every client_id label and log field is a known client id or a fixed
// value, and no distinctive submitted text (id or secret) appears anywhere.
func FuzzToken(f *testing.F) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.NewDatabase(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	for id, row := range map[string]struct {
		enabled bool
		hash    string
	}{
		fuzzTokenID:       {true, testHash(fuzzTokenSecret, 64, 1)},
		fuzzTokenDisabled: {false, testHash(fuzzTokenSecret, 64, 1)},
		fuzzTokenBadHash:  {true, "$argon2id$v=19$m=65536,t=1000,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY"},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ($1, 'fuzz@example.com', $2, $3)`,
			id, row.enabled, row.hash); err != nil {
			f.Fatal(err)
		}
	}
	known := []string{fuzzTokenID, fuzzTokenDisabled, fuzzTokenBadHash}
	logs := &syncBuffer{}
	metrics := obs.NewMetrics()
	cfg := &config.Config{SecretKey: testSecretKey, TokenExpiration: 3600e9, ServerPrefix: "http://testserver",
		AppDir: f.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10, EnforcePermissions: true, RequestDBTimeout: 10e9}
	h, err := httpapi.New(ctx, cfg, pool, pool, httpapi.WithMetrics(metrics),
		httpapi.WithLogger(obs.NewLogger(io.MultiWriter(logs, &packageLogs), true, slog.LevelDebug)),
		httpapi.WithDummyHash(testHash("", 64, 1)), httpapi.WithTokenThrottle(0, 0))
	if err != nil {
		f.Fatal(err)
	}

	// What the log and /metrics hold whatever is submitted: the lines of
	// requests that submit nothing distinctive (known ids, one-letter secrets).
	exposition := func(t testing.TB) string {
		var out bytes.Buffer
		families, err := metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range families {
			if _, err := expfmt.MetricFamilyToText(&out, fam); err != nil {
				t.Fatal(err)
			}
		}
		return out.String()
	}
	for _, id := range append(known, "x", "") {
		req := httptest.NewRequest("POST", "/token", strings.NewReader("client_id="+id+"&client_secret=s"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Request-Id", "fuzz-token")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	var fails []string
	for _, f := range httpapi.TokenFailures {
		fails = append(fails, string(f))
	}
	baseline := string(logs.bytes()) + exposition(f) + strings.Join(fails, "\n")

	const form, multipart = "application/x-www-form-urlencoded", "multipart/form-data; boundary=B"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range [][3]string{
		{"grant_type=client_credentials&client_id=" + fuzzTokenID + "&client_secret=" + fuzzTokenSecret, form, ""},
		{"", "", "Basic " + b64(fuzzTokenID+":"+fuzzTokenSecret)},
		{"client_id=" + fuzzTokenID + "&client_secret=secret_wrong", form, ""},
		{"client_id=Someone.Typing%40example.com&client_secret=hunter2hunter2", form, ""},
		{"", "", "Basic " + b64("someone.typing@example.com:hunter2hunter2")},
		{"", "", "Basic " + b64(fuzzTokenDisabled+":"+fuzzTokenSecret)},
		{"client_id=" + fuzzTokenBadHash + "&client_secret=whatever-secret", form, ""},
		{"client_id=" + strings.Repeat("x", 5000) + "&client_secret=s", form, ""},
		{"grant_type=password&client_id=a&client_secret=b", form, ""},
		{"client_secret=only", form, "Basic !!!"},
		{"--B\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\n" + fuzzTokenID +
			"\r\n--B\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\n" + fuzzTokenSecret + "\r\n--B--\r\n", multipart, ""},
		{"--B\r\nbroken", multipart, ""},
		{"client_id=%ff%fe&client_secret=%00", form, "basic " + b64("\x00:\xff")},
	} {
		f.Add([]byte(seed[0]), seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, authorization string) {
		logged := len(logs.bytes())
		req := httptest.NewRequest("POST", "/token", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", authorization)
		req.Header.Set("X-Request-Id", "fuzz-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		r := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
		if r.Status >= 500 || r.Status < 200 {
			t.Fatalf("-> %d: %s", r.Status, r.Body)
		}
		(&apiTest{t: t}).checkContract(req, r)

		newLogs := string(logs.bytes()[logged:])
		checkTokenLog(t, newLogs, known)
		families, err := metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range families {
			for _, m := range fam.Metric {
				for _, l := range m.Label {
					if l.GetName() == "client_id" && !slices.Contains(known, l.GetValue()) && l.GetValue() != "unknown" {
						t.Fatalf("client_id label %q is not a known client", l.GetValue())
					}
				}
			}
		}
		text := exposition(t)
		for _, v := range submitted(body, authorization) {
			if distinctive(v, baseline) && (strings.Contains(newLogs, v) || strings.Contains(text, v)) {
				t.Fatalf("submitted %q is in the log or /metrics", v)
			}
		}
	})
}

// checkTokenLog requires every line a POST /token logged to hold only fixed
// values and known client ids.
func checkTokenLog(t *testing.T, text string, known []string) {
	t.Helper()
	knownOrAbsent := func(v any) bool { s, ok := v.(string); return v == nil || ok && slices.Contains(known, s) }
	for line := range strings.Lines(text) {
		var l struct {
			Type   string
			Fields map[string]any
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		f := l.Fields
		switch l.Type {
		case "request.summary":
			for k := range f {
				if !slices.Contains(summaryKeys, k) {
					t.Fatalf("unexpected field %q: %s", k, line)
				}
			}
			fail, _ := f["token_fail"].(string)
			from, _ := f["token_creds_from"].(string)
			switch {
			case f["path"] != "/token" || f["rid"] != "fuzz-token" || f["agent"] != "" || f["lang"] != nil:
				t.Fatalf("unexpected request fields: %s", line)
			case !knownOrAbsent(f["client_id"]) || !knownOrAbsent(f["uid"]):
				t.Fatalf("logged a client id that is not a client's: %s", line)
			case fail != "" && !slices.Contains(httpapi.TokenFailures, httpapi.TokenFailure(fail)):
				t.Fatalf("token_fail is not a TokenFailure: %s", line)
			case from != "" && from != "form" && from != "header":
				t.Fatalf("unexpected token_creds_from: %s", line)
			}
		case "ctms.auth": // the unusable hash of a known client
			if f["client_id"] != fuzzTokenBadHash || !strings.HasPrefix(f["problem"].(string), auth.ErrInvalidHash.Error()) {
				t.Fatalf("unexpected auth log line: %s", line)
			}
		default:
			t.Fatalf("unexpected log line: %s", line)
		}
	}
}

// submitted is what the request offered as client ids and secrets.
func submitted(body []byte, authorization string) []string {
	var out []string
	if q, err := url.ParseQuery(string(body)); err == nil {
		out = append(out, q["client_id"]...)
		out = append(out, q["client_secret"]...)
	}
	if id, secret, ok, _ := auth.ParseBasic(authorization); ok {
		out = append(out, id, secret)
	}
	return out
}

// distinctive: long enough not to occur in a log line or /metrics by chance
// (not digits only, which timestamps hold), and not part of what they hold
// anyway (baseline).
func distinctive(v, baseline string) bool {
	return len(v) >= 8 && strings.Trim(v, "0123456789.") != "" && !strings.Contains(baseline, v)
}

// bytes is a copy of what was written so far.
func (b *syncBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
