package config

import (
	"strings"
	"testing"
	"time"
)

func TestDeletionsRetention(t *testing.T) {
	env := map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for value, want := range map[string]time.Duration{
		"":                 90 * 24 * time.Hour, // unset: the default
		"P30D":             30 * 24 * time.Hour,
		"86400":            24 * time.Hour,
		"7 days, 00:00:00": 7 * 24 * time.Hour,
	} {
		delete(env, "CTMS_DELETIONS_RETENTION")
		if value != "" {
			env["CTMS_DELETIONS_RETENTION"] = value
		}
		c, err := LoadFrom(lookup)
		if err != nil || c.DeletionsRetention != want {
			t.Fatalf("%q: got %v %v, want %v", value, c.DeletionsRetention, err, want)
		}
	}
	// 0 used to keep tombstones forever: every retention is now bounded.
	for _, bad := range []string{"0", "PT0S", "-1", "90 days", "soon"} {
		env["CTMS_DELETIONS_RETENTION"] = bad
		if _, err := LoadFrom(lookup); err == nil || !strings.Contains(err.Error(), "CTMS_DELETIONS_RETENTION") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
