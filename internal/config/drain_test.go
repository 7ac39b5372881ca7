package config

import (
	"strings"
	"testing"
	"time"
)

// CTMS_SHUTDOWN_DRAIN: 0 by default (the listener closes at once, as before), a
// duration otherwise; negative values are refused.
func TestShutdownDrain(t *testing.T) {
	env := map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := LoadFrom(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownDrain != 0 {
		t.Fatalf("default: %s", c.ShutdownDrain)
	}
	for v, want := range map[string]time.Duration{"5": 5 * time.Second, "PT1M": time.Minute, "0:00:02.5": 2500 * time.Millisecond} {
		env["CTMS_SHUTDOWN_DRAIN"] = v
		if c, err = LoadFrom(lookup); err != nil {
			t.Errorf("%q: %v", v, err)
		} else if c.ShutdownDrain != want {
			t.Errorf("%q: %s, want %s", v, c.ShutdownDrain, want)
		}
	}
	env["CTMS_SHUTDOWN_DRAIN"] = "-1"
	if _, err = LoadFrom(lookup); err == nil || !strings.Contains(err.Error(), "CTMS_SHUTDOWN_DRAIN must not be negative") {
		t.Fatalf("negative: %v", err)
	}
}
