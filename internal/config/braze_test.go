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

func brazeRequired() map[string]string {
	return map[string]string{"CTMS_BRAZE_URL": "https://rest.iad-01.braze.com", "CTMS_BRAZE_API_KEY": "key"}
}

func TestLoadBrazeDefaults(t *testing.T) {
	b, err := LoadBraze(mapLookup(brazeRequired()))
	if err != nil {
		t.Fatal(err)
	}
	want := &Braze{URL: "https://rest.iad-01.braze.com", APIKey: "key", AliasDelay: 5 * time.Minute,
		MetricsHost: "0.0.0.0", MetricsPort: 8001, PollInterval: 500 * time.Millisecond, MaxRetries: 20,
		RetryMaxDelay: 15 * time.Minute, RepairDelay: time.Minute}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
}

func TestLoadBrazeEverySetting(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBraze(mapLookup(map[string]string{
		"CTMS_BRAZE_URL": "http://127.0.0.1:9999", "CTMS_BRAZE_API_KEY_FILE": keyFile,
		"CTMS_BRAZE_ALIAS_DELAY": "PT1M", "CTMS_SYNC_METRICS_HOST": "127.0.0.1", "CTMS_SYNC_METRICS_PORT": "9102",
		"CTMS_SYNC_POLL_INTERVAL": "250ms", "CTMS_SYNC_MAX_RETRIES": "3", "CTMS_SYNC_RETRY_MAX_DELAY": "60",
		"CTMS_SYNC_REPAIR_DELAY": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := &Braze{URL: "http://127.0.0.1:9999", APIKey: "from-a-file", AliasDelay: time.Minute,
		MetricsHost: "127.0.0.1", MetricsPort: 9102, PollInterval: 250 * time.Millisecond, MaxRetries: 3,
		RetryMaxDelay: time.Minute, RepairDelay: 10 * time.Second}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
}

// TestLoadBrazeErrors: bad configuration names each variable at fault.
func TestLoadBrazeErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{}, []string{"CTMS_BRAZE_URL is required", "CTMS_BRAZE_API_KEY is required"}},
		{map[string]string{"CTMS_BRAZE_URL": "rest.braze.com", "CTMS_BRAZE_API_KEY": "k"}, []string{"CTMS_BRAZE_URL must be an http(s):// URL"}},
		{map[string]string{"CTMS_BRAZE_URL": "https://x", "CTMS_BRAZE_API_KEY": "k", "CTMS_BRAZE_API_KEY_FILE": "/nonexistent"},
			[]string{"CTMS_BRAZE_API_KEY and CTMS_BRAZE_API_KEY_FILE are both set"}},
		{map[string]string{"CTMS_BRAZE_URL": "https://x", "CTMS_BRAZE_API_KEY_FILE": "/nonexistent/key"},
			[]string{"CTMS_BRAZE_API_KEY_FILE cannot be read"}},
		{map[string]string{"CTMS_BRAZE_URL": "https://x", "CTMS_BRAZE_API_KEY": "k", "CTMS_BRAZE_ALIAS_DELAY": "-1s",
			"CTMS_SYNC_METRICS_PORT": "70000", "CTMS_SYNC_POLL_INTERVAL": "0", "CTMS_SYNC_MAX_RETRIES": "0",
			"CTMS_SYNC_RETRY_MAX_DELAY": "10ms", "CTMS_SYNC_REPAIR_DELAY": "500ms"},
			[]string{"CTMS_BRAZE_ALIAS_DELAY must not be negative", "CTMS_SYNC_METRICS_PORT must be a port number",
				"CTMS_SYNC_POLL_INTERVAL must be positive", "CTMS_SYNC_MAX_RETRIES must be at least 1",
				"CTMS_SYNC_RETRY_MAX_DELAY must be at least 1s", "CTMS_SYNC_REPAIR_DELAY must be at least 10s"}},
		{map[string]string{"CTMS_BRAZE_URL": "https://x", "CTMS_BRAZE_API_KEY": "k", "CTMS_BRAZE_ALIAS_DELAY": "soon"},
			[]string{"invalid duration"}},
	} {
		_, err := LoadBraze(mapLookup(tc.env))
		if err == nil {
			t.Errorf("%v: no error", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tc.env, err, w)
			}
		}
	}
}

// TestBrazeDocumentedDefaults: every CTMS_BRAZE_ and CTMS_SYNC_ setting of
// docs/configuration.md, set to its documented default, loads what leaving it out does.
func TestBrazeDocumentedDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	base, err := LoadBraze(mapLookup(brazeRequired()))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `((?:CTMS_BRAZE|CTMS_SYNC)_[A-Z_]+)` \\| `([^`]+)` \\|").FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 6 {
		t.Fatalf("%d documented sync settings with a default, want at least 6", len(rows))
	}
	for _, row := range rows {
		env := brazeRequired()
		env[row[1]] = row[2]
		got, err := LoadBraze(mapLookup(env))
		if err != nil || !reflect.DeepEqual(got, base) {
			t.Errorf("%s=%s (its documented default) loads %+v (%v), not the default", row[1], row[2], got, err)
		}
	}
}
