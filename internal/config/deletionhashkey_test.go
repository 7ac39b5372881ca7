package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CTMS_DELETION_HASH_KEY (or _FILE) is read as given; `ctms migrate` requires one of at
// least 32 bytes, and other commands do not.
func TestDeletionHashKey(t *testing.T) {
	key := strings.Repeat("k", 40)
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x"}
	load := func(extra map[string]string) (*Config, error) {
		return LoadFrom(func(k string) (string, bool) {
			if v, ok := extra[k]; ok {
				return v, true
			}
			v, ok := base[k]
			return v, ok
		})
	}
	for name, tc := range map[string]struct {
		env     map[string]string
		want    string
		migrate string // the error of ValidateForMigrating, "" for none
	}{
		"Unset":    {nil, "", "CTMS_DELETION_HASH_KEY (or CTMS_DELETION_HASH_KEY_FILE) is required"},
		"Value":    {map[string]string{"CTMS_DELETION_HASH_KEY": key}, key, ""},
		"File":     {map[string]string{"CTMS_DELETION_HASH_KEY_FILE": file}, key, ""},
		"TooShort": {map[string]string{"CTMS_DELETION_HASH_KEY": "short"}, "short", "CTMS_DELETION_HASH_KEY must be at least 32 bytes long (got 5)"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := load(tc.env)
			if err != nil {
				t.Fatal(err) // only `ctms migrate` needs the key
			}
			if c.DeletionHashKey != tc.want {
				t.Fatalf("DeletionHashKey = %q, want %q", c.DeletionHashKey, tc.want)
			}
			err = c.ValidateForMigrating()
			if tc.migrate == "" && err != nil || tc.migrate != "" && (err == nil || !strings.Contains(err.Error(), tc.migrate)) {
				t.Fatalf("ValidateForMigrating: %v, want %q", err, tc.migrate)
			}
		})
	}
	if _, err := load(map[string]string{"CTMS_DELETION_HASH_KEY": key, "CTMS_DELETION_HASH_KEY_FILE": file}); err == nil ||
		!strings.Contains(err.Error(), "CTMS_DELETION_HASH_KEY and CTMS_DELETION_HASH_KEY_FILE are both set") {
		t.Fatalf("both set: %v", err)
	}
}
