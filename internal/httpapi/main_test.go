package httpapi_test

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

var (
	// packageLogs collects what every test server of the package logs.
	packageLogs syncBuffer
	// packageMetrics collects the /metrics output of every test server when it stops.
	packageMetrics syncBuffer
)

var (
	emailPattern  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	secretPattern = regexp.MustCompile(`secret_[A-Za-z0-9_-]{20,}`)
	tokenPattern  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)
)

// TestMain runs the tests (testdb.Run: the package's database is dropped after
// them), then proves that no log line of any request they made, and no /metrics
// output of their servers, holds an email address, a client secret or an access
// token. It checks after any run, -run or not; only
// the whole suite is sure to log enough to also check the capture works.
func TestMain(m *testing.M) {
	code := testdb.Run(m)
	whole := flagValue("test.run") == "" && flagValue("test.list") == "" && flagValue("test.skip") == ""
	if c := checkPersonalData(packageLogs.String(), packageMetrics.String(), whole); c != 0 {
		code = c
	}
	os.Exit(code)
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// checkPersonalData scans the logs and the metrics output; 1 when it finds
// personal data, or (wholeRun) when so little was captured that capture is broken.
func checkPersonalData(logs, metrics string, wholeRun bool) int {
	if wholeRun && len(logs) < 10_000 {
		fmt.Fprintf(os.Stderr, "FAIL: the test run logged only %d bytes: log capture is broken\n", len(logs))
		return 1
	}
	if wholeRun && len(metrics) < 10_000 {
		fmt.Fprintf(os.Stderr, "FAIL: the test servers' /metrics gave only %d bytes: metrics capture is broken\n", len(metrics))
		return 1
	}
	for _, out := range []struct{ what, text string }{{"log line", logs}, {"/metrics output", metrics}} {
		for name, re := range map[string]*regexp.Regexp{"email address": emailPattern, "client secret": secretPattern, "access token": tokenPattern} {
			if m := re.FindString(out.text); m != "" {
				fmt.Fprintf(os.Stderr, "FAIL: a %s holds a %s: %q\n", out.what, name, m)
				return 1
			}
		}
	}
	return 0
}

// startServer serves h for the test like httptest.NewServer, with net/http's own
// error messages written to packageLogs, and keeps its /metrics output for
// TestMain when the test ends.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = slog.NewLogLogger(obs.NewLogger(&packageLogs, true, slog.LevelDebug).Handler(), slog.LevelError)
	srv.Start()
	t.Cleanup(func() {
		scrapeMetrics(h)
		srv.Close()
	})
	return srv
}

// scrapeMetrics appends h's /metrics output to packageMetrics.
func scrapeMetrics(h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	_, _ = io.Copy(&packageMetrics, rec.Body)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
