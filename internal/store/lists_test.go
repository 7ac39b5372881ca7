package store

import (
	"reflect"
	"testing"
)

// The scan of the contact queries' lists agrees with encoding/json on every input:
// the same items, or the fallback's error.
func FuzzDecodeLists(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"name" : "firefox-news", "subscribed" : true, "format" : "H", "lang" : "fr", "source" : "https://example.com/", "unsub_reason" : null, "create_timestamp" : "2026-11-26T06:02:47.139331+00:00", "update_timestamp" : "2026-11-26T06:02:47+00:00"}]`,
		`[{"name" : "a", "subscribed" : null, "format" : null, "lang" : null, "source" : null, "unsub_reason" : "x\"y", "create_timestamp" : "2026-11-26T06:02:47.1+01:00", "update_timestamp" : "2026-11-26T06:02:47.139331+00:00"}, {"name" : "b\u00e9", "subscribed" : false, "format" : "T", "lang" : "en", "source" : null, "unsub_reason" : null, "create_timestamp" : "2026-11-26T06:02:47.139331+00:00", "update_timestamp" : "2026-11-26T06:02:47.139331+00:00"}]`,
		`[{"name" : "vpn", "source" : "https://example.com/", "fields" : {"geo":"fr","platform":["a","}"]}, "subscribed" : true, "unsub_reason" : null, "create_timestamp" : "2026-11-26T06:02:48.847293+00:00", "update_timestamp" : "2026-11-26T06:02:48.847293+00:00"}]`,
		`[{"name" : "relay", "source" : null, "fields" : null, "subscribed" : false, "unsub_reason" : "no", "create_timestamp" : "2026-11-26T06:02:48Z", "update_timestamp" : "2026-11-26T06:02:48.000001-07:00"}]`,
		`[{"name": 1}]`, `[{"name":"x",}]`, `[{}, {}]`, `{"name":"x"}`, `[{"fields": {"a": [1, 2}]}]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		nl, nlErr := decodeNewsletters(text)
		refNl, refNlErr := decodeNewslettersJSON(text)
		if (nlErr == nil) != (refNlErr == nil) || (nlErr == nil && !reflect.DeepEqual(nl, refNl)) {
			t.Errorf("newsletters of %q:\n scan %#v, %v\n json %#v, %v", text, nl, nlErr, refNl, refNlErr)
		}
		wl, wlErr := decodeWaitlists(text)
		refWl, refWlErr := decodeWaitlistsJSON(text)
		if (wlErr == nil) != (refWlErr == nil) || (wlErr == nil && !reflect.DeepEqual(wl, refWl)) {
			t.Errorf("waitlists of %q:\n scan %#v, %v\n json %#v, %v", text, wl, wlErr, refWl, refWlErr)
		}
	})
}
