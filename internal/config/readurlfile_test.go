package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CTMS_DB_READ_URL can come from a file like the other URLs (its password is a secret too).
func TestDBReadURLFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "read_url")
	if err := os.WriteFile(file, []byte("postgresql+psycopg2://reader:pw@db2/ctms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"CTMS_DB_URL": "postgresql://db1/ctms", "CTMS_SECRET_KEY": "x"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	c, err := LoadFrom(mapLookup(with("CTMS_DB_READ_URL_FILE", file)))
	if err != nil || c.DBReadURL != "postgresql://reader:pw@db2/ctms" {
		t.Fatalf("from the file: %q %v", c.DBReadURL, err)
	}
	_, err = LoadFrom(mapLookup(with("CTMS_DB_READ_URL_FILE", file, "CTMS_DB_READ_URL", "postgresql://db2/ctms")))
	if err == nil || !strings.Contains(err.Error(), "CTMS_DB_READ_URL and CTMS_DB_READ_URL_FILE are both set") {
		t.Errorf("both set: %v", err)
	}
	_, err = LoadFrom(mapLookup(with("CTMS_DB_READ_URL_FILE", file+".missing")))
	if err == nil || !strings.Contains(err.Error(), "CTMS_DB_READ_URL_FILE cannot be read") {
		t.Errorf("missing file: %v", err)
	}
}
