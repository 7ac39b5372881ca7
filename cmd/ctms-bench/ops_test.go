package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// pgbench reads ":name" anywhere in a script's SQL as a variable, string literals
// included: every one must be a variable the scripts set (pgbenchParams.defines, \set
// lines, or pgbench's client_id).
func TestPgbenchScriptsUseOnlyTheirVariables(t *testing.T) {
	known := map[string]bool{"client_id": true}
	for _, arg := range (pgbenchParams{}).defines() {
		if name, _, ok := strings.Cut(arg, "="); ok {
			known[name] = true
		}
	}
	setRE := regexp.MustCompile(`(?m)^\\set (\w+) `)
	varRE := regexp.MustCompile(`(^|[^:]):(\w+)`)
	for _, op := range operationList() {
		vars := map[string]bool{}
		for k := range known {
			vars[k] = true
		}
		for _, m := range setRE.FindAllStringSubmatch(op.pgbench, -1) {
			vars[m[1]] = true
		}
		for _, m := range varRE.FindAllStringSubmatch(op.pgbench, -1) {
			if !vars[m[2]] {
				t.Errorf("%s: pgbench would read :%s as an undefined variable", op.key, m[2])
			}
		}
	}
}

func TestBindReplacesTwoDigitParametersFirst(t *testing.T) {
	got := bind("SELECT $1, $10, $2", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
	if want := "SELECT (a), (j), (b);\n"; got != want {
		t.Fatalf("bind = %q, want %q", got, want)
	}
}

// The Lua (wrk.go) and SQL (ceiling.go) spellings derive the same identifiers as seed.go.
func TestDerivedIdentifiers(t *testing.T) {
	id := contactID(0xabcdef)
	if id.String() != "00000000-0000-4000-8000-000000abcdef" || id.Version() != 4 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("contactID = %s (version %d, variant %v), want a version-4 UUID ending in abcdef", id, id.Version(), id.Variant())
	}
	if contactEmail(42) != "bench42@example.com" || contactToken(255) != "00000000-0000-4000-9000-0000000000ff" {
		t.Fatalf("contactEmail, contactToken = %s, %s", contactEmail(42), contactToken(255))
	}
	for _, want := range []string{`"00000000-0000-4000-8000-%012x"`, `"bench" .. n .. "@example.com"`, `"00000000-0000-4000-9000-%012x"`} {
		if !strings.Contains(luaCommon, want) {
			t.Errorf("luaCommon lacks %s", want)
		}
	}
	if !strings.Contains(idExpr, idPrefix) || !strings.Contains(tokenExpr, tokenPrefix) || !strings.Contains(emailExpr, "'bench' || :n") {
		t.Errorf("idExpr, tokenExpr, emailExpr = %s, %s, %s", idExpr, tokenExpr, emailExpr)
	}
}

func TestParsePgbench(t *testing.T) {
	ok := `number of transactions actually processed: 12345
number of failed transactions: 0 (0.000%)
latency average = 10.370 ms
initial connection time = 339.228 ms
tps = 6171.500000 (without initial connection time)
`
	r, found := parsePgbench(ok)
	if !found || r.done != 12345 || r.errors != 0 || r.rate != 6171.5 || r.avg != 10370*time.Microsecond {
		t.Fatalf("parsePgbench(ok) = %+v, %v", r, found)
	}
	aborted := `pgbench: error: client 0 script 0 aborted in command 0 query 0: ERROR:  division by zero
pgbench: error: client 1 script 0 aborted in command 0 query 0: ERROR:  division by zero
number of transactions actually processed: 0
number of failed transactions: 0 (NaN%)
pgbench: error: Run was aborted; the above results are incomplete.
`
	r, found = parsePgbench(aborted)
	if !found || r.errors != 2 || !strings.Contains(r.firstErr, "division by zero") {
		t.Fatalf("parsePgbench(aborted) = %+v, %v", r, found)
	}
	if _, found := parsePgbench("pgbench: error: connection refused\n"); found {
		t.Fatal("parsePgbench found a summary in an error")
	}
}
