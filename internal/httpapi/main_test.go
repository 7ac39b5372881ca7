package httpapi_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/ctms-go/ctms/internal/testdb"
)

// packageLogs collects what every test server of the package logs.
var packageLogs syncBuffer

var (
	emailPattern  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	secretPattern = regexp.MustCompile(`secret_[A-Za-z0-9_-]{20,}`)
	tokenPattern  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)
)

// TestMain runs the whole suite (testdb.Run: the package's database is dropped after it),
// then proves that no log line of any request it made holds an email address, a client
// secret or an access token.
func TestMain(m *testing.M) {
	code := testdb.Run(m)
	if code == 0 && flagValue("test.run") == "" && flagValue("test.list") == "" { // whole suite only
		code = checkLogsForPersonalData(packageLogs.buf.String())
	}
	os.Exit(code)
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func checkLogsForPersonalData(logs string) int {
	if len(logs) < 10_000 {
		fmt.Fprintf(os.Stderr, "FAIL: the test run logged only %d bytes: log capture is broken\n", len(logs))
		return 1
	}
	for name, re := range map[string]*regexp.Regexp{"email address": emailPattern, "client secret": secretPattern, "access token": tokenPattern} {
		if m := re.FindString(logs); m != "" {
			fmt.Fprintf(os.Stderr, "FAIL: a log line holds a %s: %q\n", name, m)
			return 1
		}
	}
	return 0
}
