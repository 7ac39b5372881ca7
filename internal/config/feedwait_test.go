package config

import (
	"strings"
	"testing"
	"time"
)

func TestFeedMaxWriteWait(t *testing.T) {
	env := map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for value, want := range map[string]time.Duration{
		"":      5 * time.Minute, // unset: the default
		"PT10M": 10 * time.Minute,
		"90":    90 * time.Second,
		"0":     0, // no bound
	} {
		delete(env, "CTMS_FEED_MAX_WRITE_WAIT")
		if value != "" {
			env["CTMS_FEED_MAX_WRITE_WAIT"] = value
		}
		c, err := LoadFrom(lookup)
		if err != nil || c.FeedMaxWriteWait != want {
			t.Fatalf("%q: got %v %v, want %v", value, c.FeedMaxWriteWait, err, want)
		}
	}
	for _, bad := range []string{"-1", "5 minutes"} {
		env["CTMS_FEED_MAX_WRITE_WAIT"] = bad
		if _, err := LoadFrom(lookup); err == nil || !strings.Contains(err.Error(), "CTMS_FEED_MAX_WRITE_WAIT") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
