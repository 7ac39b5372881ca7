package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// required is the smallest valid environment.
func required() map[string]string {
	return map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x"}
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3600": time.Hour, "0.5": 500 * time.Millisecond, " 10 ": 10 * time.Second,
		"10s": 10 * time.Second, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond,
		"PT10S": 10 * time.Second, "PT1H": time.Hour, "P1DT2H": 26 * time.Hour,
		"01:30:00": 90 * time.Minute, "1 day, 02:00:00": 26 * time.Hour, "2 days, 0:00:01": 48*time.Hour + time.Second,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "1 hour", "ten", "10 s", "1h-"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", in, d)
		}
	}
}

// TestDocumentedDurations reads docs/configuration.md: every example of the duration forms
// parses, and every default the table gives a duration setting, set explicitly, loads the same
// configuration as leaving the setting out (so the documented default is the real one).
func TestDocumentedDurations(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	bullet := regexp.MustCompile(`(?s)- \*\*Durations\*\*(.*?)\n(?:- |\n)`).FindStringSubmatch(text)
	if bullet == nil {
		t.Fatal("no **Durations** bullet in docs/configuration.md")
	}
	examples := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(bullet[1], -1)
	if len(examples) < 6 {
		t.Fatalf("too few duration examples in the bullet: %q", bullet[1])
	}
	for _, m := range examples {
		if _, err := ParseDuration(m[1]); err != nil {
			t.Errorf("documented example %q: %v", m[1], err)
		}
	}

	base, err := LoadFrom(mapLookup(required()))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| `([^`]+)` \\| (.*)\\|$").FindAllStringSubmatch(text, -1)
	n := 0
	for _, row := range rows {
		if !strings.Contains(row[3], "*duration*") {
			continue
		}
		n++
		env := required()
		env[row[1]] = row[2]
		got, err := LoadFrom(mapLookup(env))
		if err != nil {
			t.Errorf("%s=%s (its documented default): %v", row[1], row[2], err)
			continue
		}
		if !reflect.DeepEqual(got, base) {
			t.Errorf("%s=%s (its documented default) loads another configuration than leaving it unset", row[1], row[2])
		}
	}
	if n < 7 {
		t.Errorf("found %d duration settings in the table, want at least 7", n)
	}
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	lookup := EnvironLookup([]string{"Ctms_Db_Url=postgresql://mixed/ctms", "ctms_secret_key=lower",
		"CTMS_SECRET_KEY=exact", "port=9000", "NOT_AN_ENTRY"})
	c, err := LoadFrom(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.DBURL != "postgresql://mixed/ctms" || c.SecretKey != "exact" || c.Port != 9000 {
		t.Errorf("DBURL %q, SecretKey %q (the exact name wins), Port %d", c.DBURL, c.SecretKey, c.Port)
	}
	if _, ok := lookup("HOST"); ok {
		t.Error("HOST is not set")
	}
}

func TestFileVariables(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("key", "a-secret-key-read-from-a-file-0123456789\n")
	urlFile := write("url", "postgresql+psycopg2://user:pw@db/ctms\r\n")

	c, err := LoadFrom(mapLookup(map[string]string{"CTMS_DB_URL_FILE": urlFile, "CTMS_SECRET_KEY_FILE": keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretKey != "a-secret-key-read-from-a-file-0123456789" || c.DBURL != "postgresql://user:pw@db/ctms" {
		t.Errorf("SecretKey %q, DBURL %q: the files' contents without the line break", c.SecretKey, c.DBURL)
	}

	// Lower-case names work for the _FILE variables too.
	if c, err = LoadFrom(EnvironLookup([]string{"ctms_db_url_file=" + urlFile, "ctms_secret_key_file=" + keyFile})); err != nil || c.DBURL == "" {
		t.Errorf("lower-case _FILE names: %v", err)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both set", map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x", "CTMS_SECRET_KEY_FILE": keyFile},
			"CTMS_SECRET_KEY and CTMS_SECRET_KEY_FILE are both set"},
		{"both set (URL)", map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_DB_URL_FILE": urlFile, "CTMS_SECRET_KEY": "x"},
			"CTMS_DB_URL and CTMS_DB_URL_FILE are both set"},
		{"missing file", map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY_FILE": filepath.Join(dir, "nope")},
			"CTMS_SECRET_KEY_FILE cannot be read"},
		{"empty file", map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY_FILE": write("empty", "\n")},
			"CTMS_SECRET_KEY is required"},
		{"bad URL in the file", map[string]string{"CTMS_DB_URL_FILE": write("bad", "mysql://db\n"), "CTMS_SECRET_KEY": "x"},
			"CTMS_DB_URL must be a postgresql:// URL"},
	} {
		_, err := LoadFrom(mapLookup(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "a-secret-key-read") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}
