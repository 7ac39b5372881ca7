package brazefake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/brazefake"
)

const key = "test-key"

func start(t *testing.T, o brazefake.Options) (*brazefake.Server, string) {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = key
	}
	s := brazefake.New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, url, auth, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return answer{resp.StatusCode, resp.Header, m}
}

func track(t *testing.T, url, body string) answer {
	t.Helper()
	return post(t, url+brazefake.PathTrack, "Bearer "+key, body)
}

func objects(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	_, url := start(t, brazefake.Options{LimitedKeys: map[string][]string{"export-only": {brazefake.PathExport}}})
	body := `{"attributes":[{"external_id":"a","email":"a@example.com"}]}`
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"Missing", "", http.StatusUnauthorized},
		{"NotBearer", "Basic " + key, http.StatusUnauthorized},
		{"UnknownKey", "Bearer nope", http.StatusUnauthorized},
		{"LimitedKey", "Bearer export-only", http.StatusForbidden},
		{"Key", "Bearer " + key, http.StatusOK},
	} {
		a := post(t, url+brazefake.PathTrack, tc.auth, body)
		require.Equal(t, tc.status, a.status, tc.name)
		require.NotEmpty(t, a.body["message"], tc.name)
	}
	a := post(t, url+brazefake.PathExport, "Bearer export-only", `{"external_ids":["a"],"fields_to_export":["email"]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, []any{map[string]any{"email": "a@example.com"}}, a.body["users"])
}

func TestFatalErrors(t *testing.T) {
	t.Parallel()
	s, url := start(t, brazefake.Options{})
	attr := func(i int) string { return fmt.Sprintf(`{"external_id":"id%d","email":"e%d@example.com"}`, i, i) }
	event := func(i int) string {
		return fmt.Sprintf(`{"external_id":"id%d","name":"n","time":"2024-01-01T00:00:00Z"}`, i)
	}
	ids := func(n int) string { return objects(n, func(i int) string { return fmt.Sprintf(`"id%d"`, i) }) }
	alias := func(i int) string {
		return fmt.Sprintf(`{"external_id":"id%d","alias_label":"l","alias_name":"n%d"}`, i, i)
	}
	for _, tc := range []struct {
		name, path, body, message string
	}{
		{"NotJSON", brazefake.PathTrack, `{"attributes":`, "Invalid JSON"},
		{"NotAnObject", brazefake.PathTrack, `[]`, "Invalid JSON"},
		{"TwoValues", brazefake.PathTrack, `{} {}`, "Invalid JSON"},
		{"Empty", brazefake.PathTrack, `{}`, "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."},
		{"EmptyArrays", brazefake.PathTrack, `{"attributes":[],"events":[]}`, "Valid data must be provided"},
		{"AttributesNotArray", brazefake.PathTrack, `{"attributes":{"external_id":"a"}}`, "'attributes' must be an array"},
		{"UnknownField", brazefake.PathTrack, `{"attributes":[],"attrs":[]}`, "'attrs' is not supported"},
		{"76Attributes", brazefake.PathTrack, `{"attributes":` + objects(76, attr) + `}`, "'attributes' cannot have more than 75 elements"},
		{"76Events", brazefake.PathTrack, `{"events":` + objects(76, event) + `}`, "'events' cannot have more than 75 elements"},
		{"51Deletes", brazefake.PathDelete, `{"external_ids":` + ids(51) + `}`, "'external_ids' cannot have more than 50 elements"},
		{"DeleteNone", brazefake.PathDelete, `{"external_ids":[]}`, "at least one"},
		{"DeleteNotStrings", brazefake.PathDelete, `{"external_ids":[1]}`, "non-empty strings"},
		{"DeleteByAlias", brazefake.PathDelete, `{"user_aliases":[]}`, "'user_aliases' is not supported"},
		{"51Aliases", brazefake.PathAliasNew, `{"user_aliases":` + objects(51, alias) + `}`, "'user_aliases' cannot have more than 50 elements"},
		{"51Exports", brazefake.PathExport, `{"external_ids":` + ids(51) + `,"fields_to_export":["email"]}`, "cannot have more than 50"},
		{"ExportNoFields", brazefake.PathExport, `{"external_ids":["a"]}`, "'fields_to_export' is required"},
		{"ExportUnknownField", brazefake.PathExport, `{"external_ids":["a"],"fields_to_export":["subscription_groups"]}`, "'subscription_groups' is not a valid field"},
	} {
		a := post(t, url+tc.path, "Bearer "+key, tc.body)
		require.Equal(t, http.StatusBadRequest, a.status, tc.name)
		require.Contains(t, a.body["message"], tc.message, tc.name)
	}
	require.Empty(t, s.Profiles(), "a fatal error applies nothing")
	require.Empty(t, s.Writes())
	require.Equal(t, 17, s.Counters().Requests[brazefake.PathTrack]["400"]+s.Counters().Requests[brazefake.PathDelete]["400"]+
		s.Counters().Requests[brazefake.PathAliasNew]["400"]+s.Counters().Requests[brazefake.PathExport]["400"])

	// The limits themselves are accepted.
	a := track(t, url, `{"attributes":`+objects(75, attr)+`,"events":`+objects(75, event)+`}`)
	require.Equal(t, http.StatusOK, a.status)
	require.EqualValues(t, 75, a.body["attributes_processed"])
	require.EqualValues(t, 75, a.body["events_processed"])
}

func TestMinorErrors(t *testing.T) {
	t.Parallel()
	s, url := start(t, brazefake.Options{})
	a := track(t, url, `{
		"attributes": [
			{"external_id": "ok1", "email_subscribe": "opted_in"},
			{"email": "x@example.com"},
			{"external_id": "bad-subscribe", "email_subscribe": "yes"},
			{"external_id": "bad-group", "subscription_groups": [{"subscription_group_id": "g", "subscription_state": "on"}]},
			{"external_id": "bad-time", "user_attributes_v1": [{"created_at": {"$time": "yesterday"}}]},
			{"external_id": 7},
			"nope",
			{"external_id": "ok2", "_update_existing_only": false}
		],
		"events": [
			{"external_id": "ok1", "name": "n - subscribe", "time": "2024-05-01T10:00:00Z"},
			{"external_id": "ok1", "time": "2024-05-01T10:00:00Z"},
			{"external_id": "ok1", "name": "n", "time": "soon"}
		]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "success", a.body["message"])
	require.EqualValues(t, 2, a.body["attributes_processed"])
	require.EqualValues(t, 1, a.body["events_processed"])
	type minor struct {
		array string
		index int
	}
	var got []minor
	for _, e := range a.body["errors"].([]any) {
		m := e.(map[string]any)
		require.NotEmpty(t, m["type"])
		got = append(got, minor{m["input_array"].(string), int(m["index"].(float64))})
	}
	require.Equal(t, []minor{{"attributes", 1}, {"attributes", 2}, {"attributes", 3}, {"attributes", 4},
		{"attributes", 5}, {"attributes", 6}, {"events", 1}, {"events", 2}}, got)
	profiles := s.Profiles()
	require.Len(t, profiles, 2, "only the valid objects were applied")
	require.Equal(t, "opted_in", profiles["ok1"].Standard["email_subscribe"])
	require.Len(t, profiles["ok1"].Events, 1)
	require.Contains(t, profiles, "ok2")
}

func TestTrackSemantics(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, url := start(t, brazefake.Options{Now: clock})

	// _update_existing_only: an unknown profile is not created, silently.
	a := track(t, url, `{"attributes":[{"external_id":"e1","email":"e1@example.com","_update_existing_only":true}]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Nil(t, a.body["errors"])
	_, ok := s.Profile("e1")
	require.False(t, ok)
	require.Equal(t, 1, s.Counters().SkippedUpdateOnly)

	a = track(t, url, `{"attributes":[{
		"external_id": "e1", "_update_existing_only": false,
		"email": "e1@example.com", "email_subscribe": "subscribed", "first_name": "Ann", "country": "fr",
		"subscription_groups": [{"subscription_group_id": "g1", "subscription_state": "subscribed"},
		                        {"subscription_group_id": "g2", "subscription_state": "unsubscribed"}],
		"user_attributes_v1": [{"basket_token": "t", "created_at": {"$time": "2021-03-04T05:06:07.5+01:00"},
		                        "fxa_created_at": null, "has_fxa": false}],
		"update_timestamp": "2026-12-06T01:00:00Z"}]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Nil(t, a.body["errors"])
	p, ok := s.Profile("e1")
	require.True(t, ok)
	require.Equal(t, map[string]any{"email": "e1@example.com", "email_subscribe": "subscribed", "first_name": "Ann", "country": "fr"}, p.Standard)
	require.Equal(t, map[string]string{"g1": "subscribed", "g2": "unsubscribed"}, p.SubscriptionGroups)
	require.Equal(t, []any{map[string]any{"basket_token": "t", "created_at": "2021-03-04T04:06:07.500Z", "fxa_created_at": nil, "has_fxa": false}},
		p.Custom["user_attributes_v1"])
	require.Equal(t, now, p.CreatedAt)

	// Update only an existing profile; null removes; groups merge.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	a = track(t, url, `{"attributes":[{"external_id":"e1","_update_existing_only":true,"first_name":null,
		"email_subscribe":"unsubscribed","subscription_groups":[{"subscription_group_id":"g2","subscription_state":"subscribed"}]}],
		"events":[{"external_id":"e1","name":"Firefox - subscribe","time":"2026-12-06T01:00:01Z"},
		          {"external_id":"e2","name":"Firefox - subscribe","time":"2026-12-06T01:00:01Z"}]}`)
	require.Equal(t, http.StatusOK, a.status)
	p, _ = s.Profile("e1")
	require.NotContains(t, p.Standard, "first_name")
	require.Equal(t, "unsubscribed", p.Standard["email_subscribe"])
	require.Equal(t, map[string]string{"g1": "subscribed", "g2": "subscribed"}, p.SubscriptionGroups)
	require.Equal(t, []brazefake.Event{{Name: "Firefox - subscribe", Time: "2026-12-06T01:00:01Z", ReceivedAt: now}}, p.Events)
	require.Equal(t, now, p.UpdatedAt)
	_, ok = s.Profile("e2")
	require.True(t, ok, "an event creates its profile")

	writes := s.Writes()
	require.Equal(t, []brazefake.Write{
		{At: now.Add(-time.Second), Kind: "attributes", ExternalID: "e1"},
		{At: now, Kind: "attributes", ExternalID: "e1"},
		{At: now, Kind: "event", ExternalID: "e1"},
		{At: now, Kind: "event", ExternalID: "e2"},
	}, writes)

	// Export.
	a = post(t, url+brazefake.PathExport, "Bearer "+key, `{"external_ids":["e1","nobody"],
		"fields_to_export":["external_id","email","email_subscribe","first_name","custom_attributes","user_aliases","custom_events"]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, []any{"nobody"}, a.body["invalid_user_ids"])
	require.Equal(t, []any{map[string]any{
		"external_id": "e1", "email": "e1@example.com", "email_subscribe": "unsubscribed",
		"custom_attributes": map[string]any{
			"update_timestamp":   "2026-12-06T01:00:00Z",
			"user_attributes_v1": []any{map[string]any{"basket_token": "t", "created_at": "2021-03-04T04:06:07.500Z", "fxa_created_at": nil, "has_fxa": false}},
		},
		"custom_events": []any{map[string]any{"name": "Firefox - subscribe", "first": "2026-12-06T01:00:01.000Z", "last": "2026-12-06T01:00:01.000Z", "count": float64(1)}},
	}}, a.body["users"])
}

func TestDeleteAndAliases(t *testing.T) {
	t.Parallel()
	s, url := start(t, brazefake.Options{})
	require.Equal(t, http.StatusOK, track(t, url, `{"attributes":[{"external_id":"a"},{"external_id":"b"}]}`).status)
	a := post(t, url+brazefake.PathAliasNew, "Bearer "+key, `{"user_aliases":[
		{"external_id":"a","alias_label":"fxa_id","alias_name":"f1"},
		{"external_id":"a","alias_label":"fxa_id","alias_name":"f1"},
		{"external_id":"b","alias_label":"fxa_id","alias_name":"f1"},
		{"external_id":"nobody","alias_label":"basket_token","alias_name":"t"},
		{"external_id":"b","alias_label":"basket_token"}]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.EqualValues(t, 2, a.body["aliases_processed"], "a repeat of an alias on its profile is harmless")
	require.Len(t, a.body["errors"], 3)
	p, _ := s.Profile("a")
	require.Equal(t, []brazefake.Alias{{Label: "fxa_id", Name: "f1"}}, p.Aliases)

	a = post(t, url+brazefake.PathDelete, "Bearer "+key, `{"external_ids":["a","unknown"]}`)
	require.Equal(t, http.StatusOK, a.status)
	require.EqualValues(t, 1, a.body["deleted"])
	_, ok := s.Profile("a")
	require.False(t, ok)
	require.Contains(t, s.Deleted(), "a")
	// The alias was freed with its profile.
	a = post(t, url+brazefake.PathAliasNew, "Bearer "+key, `{"user_aliases":[{"external_id":"b","alias_label":"fxa_id","alias_name":"f1"}]}`)
	require.Nil(t, a.body["errors"])
	// Re-created by a later track.
	require.Equal(t, http.StatusOK, track(t, url, `{"attributes":[{"external_id":"a"}]}`).status)
	_, ok = s.Profile("a")
	require.True(t, ok)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 1, 0, 0, 200_000_000, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, url := start(t, brazefake.Options{Now: clock, TrackLimit: brazefake.Limit{Requests: 2, Window: time.Second},
		DeleteAliasLimit: brazefake.Limit{Requests: 1, Window: time.Minute}})
	body := `{"attributes":[{"external_id":"a"}]}`
	reset := strconv.FormatInt(time.Date(2026, 12, 6, 1, 0, 1, 0, time.UTC).Unix(), 10)
	for i, remaining := range []string{"1", "0"} {
		a := track(t, url, body)
		require.Equal(t, http.StatusOK, a.status, i)
		require.Equal(t, "2", a.header.Get("X-RateLimit-Limit"))
		require.Equal(t, remaining, a.header.Get("X-RateLimit-Remaining"))
		require.Equal(t, reset, a.header.Get("X-RateLimit-Reset"))
	}
	a := track(t, url, `{"attributes":[{"external_id":"b"}]}`)
	require.Equal(t, http.StatusTooManyRequests, a.status)
	require.Equal(t, "0", a.header.Get("X-RateLimit-Remaining"))
	require.Equal(t, reset, a.header.Get("X-RateLimit-Reset"))
	_, ok := s.Profile("b")
	require.False(t, ok, "a refused request applies nothing")

	// Delete and alias/new share their limit; track has its own.
	require.Equal(t, http.StatusOK, post(t, url+brazefake.PathDelete, "Bearer "+key, `{"external_ids":["x"]}`).status)
	require.Equal(t, http.StatusTooManyRequests, post(t, url+brazefake.PathAliasNew, "Bearer "+key,
		`{"user_aliases":[{"external_id":"a","alias_label":"l","alias_name":"n"}]}`).status)

	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	a = track(t, url, `{"attributes":[{"external_id":"b"}]}`)
	require.Equal(t, http.StatusOK, a.status, "a new window")
	require.Equal(t, "1", a.header.Get("X-RateLimit-Remaining"))
	require.Equal(t, 1, s.Counters().Requests[brazefake.PathTrack]["429"])
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s, url := start(t, brazefake.Options{Faults: brazefake.Faults{Hang: 20 * time.Millisecond}})
	body := func(id string) string { return `{"attributes":[{"external_id":"` + id + `"}]}` }

	s.FailNext(brazefake.PathTrack, brazefake.FaultServerError, 1)
	require.Equal(t, http.StatusInternalServerError, track(t, url, body("s")).status)
	s.FailNext("", brazefake.FaultTimeout, 1)
	require.Equal(t, http.StatusGatewayTimeout, track(t, url, body("t")).status)
	s.FailNext(brazefake.PathTrack, brazefake.FaultRateLimit, 1)
	require.Equal(t, http.StatusTooManyRequests, track(t, url, body("r")).status)
	require.Empty(t, s.Profiles(), "500, 504 and 429 apply nothing")

	s.FailNext(brazefake.PathTrack, brazefake.FaultDrop, 1)
	req, _ := http.NewRequest(http.MethodPost, url+brazefake.PathTrack, strings.NewReader(body("d")))
	req.Header.Set("Authorization", "Bearer "+key)
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err, "the connection is closed without an answer")
	_, ok := s.Profile("d")
	require.True(t, ok, "a dropped request was applied")

	// One-shot faults are used up; a fault for another endpoint is kept.
	s.FailNext(brazefake.PathExport, brazefake.FaultServerError, 1)
	require.Equal(t, http.StatusOK, track(t, url, body("ok")).status)
	c := s.Counters()
	require.Equal(t, map[brazefake.Fault]int{"server_error": 1, "timeout": 1, "rate_limit": 1, "drop": 1}, c.Faults)
	require.Equal(t, map[string]int{"500": 1, "504": 1, "429": 1, "dropped": 1, "200": 1}, c.Requests[brazefake.PathTrack])

	// Random faults: every request fails at rate 1.
	s.SetFaults(brazefake.Faults{ServerError: 1})
	require.Equal(t, http.StatusInternalServerError, track(t, url, body("x")).status)
}

func TestStateAndFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	_, url := start(t, brazefake.Options{})
	require.Equal(t, http.StatusOK, track(t, url, `{"attributes":[{"external_id":"a","email":"a@example.com"}]}`).status)

	req, _ := http.NewRequest(http.MethodPut, url+"/_faults", strings.NewReader(`{"server_error":1,"hang_ms":5}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, http.StatusInternalServerError, track(t, url, `{"attributes":[{"external_id":"b"}]}`).status)

	resp, err = http.Get(url + "/_state")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st brazefake.State
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Equal(t, "a@example.com", st.Profiles["a"].Standard["email"])
	require.Len(t, st.Writes, 1)
	require.Equal(t, 1, st.Counters.Requests[brazefake.PathTrack]["500"])
	require.Equal(t, 1, st.Counters.Faults[brazefake.FaultServerError])
}

// TestConcurrentRequests drives every endpoint and the state readers at once (run with -race).
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	s, url := start(t, brazefake.Options{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("w%d-%d", w, i)
				if a := track(t, url, `{"attributes":[{"external_id":"`+id+`","email_subscribe":"subscribed"},{"external_id":"shared","first_name":"`+id+`"}],
					"events":[{"external_id":"shared","name":"n","time":"2026-01-01T00:00:00Z"}]}`); a.status != http.StatusOK {
					t.Errorf("track: %d", a.status)
				}
				_ = post(t, url+brazefake.PathAliasNew, "Bearer "+key, `{"user_aliases":[{"external_id":"`+id+`","alias_label":"basket_token","alias_name":"`+id+`"}]}`)
				_ = post(t, url+brazefake.PathExport, "Bearer "+key, `{"external_ids":["shared","`+id+`"],"fields_to_export":["custom_events","user_aliases"]}`)
				if i%2 == 0 {
					_ = post(t, url+brazefake.PathDelete, "Bearer "+key, `{"external_ids":["`+id+`"]}`)
				}
				_ = s.State()
			}
		})
	}
	wg.Wait()
	profiles := s.Profiles()
	require.Len(t, profiles, 8*5+1)
	require.Len(t, profiles["shared"].Events, 80)
	require.Len(t, s.Deleted(), 40)
	require.Equal(t, 80, s.Counters().Requests[brazefake.PathTrack]["200"])
}
