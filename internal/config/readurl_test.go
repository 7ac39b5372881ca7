package config

import (
	"strings"
	"testing"
)

func TestDBReadURL(t *testing.T) {
	env := map[string]string{"CTMS_DB_URL": "postgresql://db1,db2/ctms", "CTMS_SECRET_KEY": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := LoadFrom(lookup)
	if err != nil || c.DBReadURL != "" {
		t.Fatalf("default: %q %v", c.DBReadURL, err)
	}
	env["CTMS_DB_READ_URL"] = "postgresql+psycopg2://db2,db1/ctms?target_session_attrs=prefer-standby"
	if c, err = LoadFrom(lookup); err != nil || c.DBReadURL != "postgresql://db2,db1/ctms?target_session_attrs=prefer-standby" {
		t.Fatalf("set: %q %v", c.DBReadURL, err)
	}
	env["CTMS_DB_READ_URL"] = "mysql://db2/ctms"
	if _, err = LoadFrom(lookup); err == nil || !strings.Contains(err.Error(), "CTMS_DB_READ_URL") {
		t.Fatalf("invalid: %v", err)
	}
}
