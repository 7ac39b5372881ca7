package braze_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazefake"
)

const key = "test-key"

type bundle struct {
	fake   *brazefake.Server
	url    string
	client *braze.Client
	reg    *prometheus.Registry
}

// setup starts a fake Braze over real HTTP and a client of it with short retry delays;
// edit adjusts the client's configuration.
func setup(t *testing.T, o brazefake.Options, edit func(*braze.Config)) *bundle {
	t.Helper()
	o.APIKey = key
	fake := brazefake.New(o)
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	reg := prometheus.NewRegistry()
	cfg := braze.Config{
		URL:       ts.URL,
		APIKey:    key,
		TrackRate: 1000, DeleteAliasRate: 1000, ExportRate: 1000,
		Retry: braze.RetryPolicy{
			MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
			AttemptTimeout: 2 * time.Second,
		},
		Registerer: reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := braze.New(cfg)
	require.NoError(t, err)
	return &bundle{fake, ts.URL, c, reg}
}

func attrs(n int, f func(i int) braze.Attributes) []braze.Attributes {
	out := make([]braze.Attributes, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func simple(i int) braze.Attributes {
	return braze.Attributes{"external_id": fmt.Sprintf("id%d", i), "email_subscribe": "subscribed"}
}

func requests(b *bundle, path string) map[string]int { return b.fake.Counters().Requests[path] }

func TestBatchLimitsRefusedClientSide(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	ctx := t.Context()
	event := func(i int) braze.Event {
		return braze.Event{"external_id": fmt.Sprintf("id%d", i), "name": "n", "time": "2026-01-01T00:00:00Z"}
	}
	events := func(n int) []braze.Event {
		out := make([]braze.Event, n)
		for i := range out {
			out[i] = event(i)
		}
		return out
	}
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("id%d", i)
		}
		return out
	}
	aliases := make([]braze.Alias, 51)

	_, err := b.client.Track(ctx, attrs(76, simple), nil)
	require.ErrorIs(t, err, braze.ErrBatchTooLarge)
	_, err = b.client.Track(ctx, nil, events(76))
	require.ErrorIs(t, err, braze.ErrBatchTooLarge)
	require.ErrorIs(t, b.client.Delete(ctx, ids(51)), braze.ErrBatchTooLarge)
	require.ErrorIs(t, b.client.NewAliases(ctx, aliases), braze.ErrBatchTooLarge)
	_, err = b.client.Export(ctx, ids(51))
	require.ErrorIs(t, err, braze.ErrBatchTooLarge)
	require.Empty(t, b.fake.Counters().Requests, "nothing was sent")

	// The limits themselves pass, and the fake (Braze's limits) accepts them.
	minors, err := b.client.Track(ctx, attrs(75, simple), events(75))
	require.NoError(t, err)
	require.Empty(t, minors)
	profiles, err := b.client.Export(ctx, ids(50))
	require.NoError(t, err)
	require.Len(t, profiles, 50)
	require.NoError(t, b.client.Delete(ctx, ids(50)))
	require.Len(t, b.fake.Profiles(), 25)
	// Nothing to send sends nothing.
	_, err = b.client.Track(ctx, nil, nil)
	require.NoError(t, err)
	require.NoError(t, b.client.Delete(ctx, nil))
	require.Equal(t, 1, requests(b, brazefake.PathTrack)["200"])
}

func TestRateLimitedWaitsForReset(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{TrackLimit: brazefake.Limit{Requests: 1, Window: time.Second}}, nil)
	ctx := t.Context()
	// Start just after a window opens, so that both requests fall in it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	_, err := b.client.Track(ctx, attrs(1, simple), nil)
	require.NoError(t, err)
	first := b.fake.Writes()[0].At
	_, err = b.client.Track(ctx, []braze.Attributes{simple(1)}, nil)
	require.NoError(t, err)

	require.Equal(t, map[string]int{"200": 2, "429": 1}, requests(b, brazefake.PathTrack))
	second := b.fake.Writes()[1].At
	windowEnd := first.Truncate(time.Second).Add(time.Second)
	require.False(t, second.Before(windowEnd), "the retry waited for X-RateLimit-Reset (%s), came at %s", windowEnd, second)
	require.Equal(t, 1.0, counterValue(t, b, braze.EndpointTrack, "429"))
}

// TestRateLimitPausesEveryCaller: after one call is refused with 429, another call of the
// same endpoint waits for the reset too instead of being refused in turn.
func TestRateLimitPausesEveryCaller(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{TrackLimit: brazefake.Limit{Requests: 2, Window: time.Second}}, nil)
	ctx := t.Context()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	_, err := b.client.Track(ctx, attrs(2, simple), nil)
	require.NoError(t, err)
	_, err = b.client.Track(ctx, []braze.Attributes{simple(2)}, nil)
	require.NoError(t, err) // the window's 2 requests are used
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := b.client.Track(ctx, []braze.Attributes{simple(3)}, nil)
		require.NoError(t, err)
	})
	require.Eventually(t, func() bool { return requests(b, brazefake.PathTrack)["429"] == 1 }, time.Second, time.Millisecond)
	// The fake counts the 429 before the first caller has read it: wait for its pause,
	// or this caller may race ahead into the same window.
	require.Eventually(t, func() bool { return !b.client.PausedUntil(brazefake.PathTrack).IsZero() }, 5*time.Second, time.Millisecond)
	_, err = b.client.Track(ctx, []braze.Attributes{simple(4)}, nil)
	require.NoError(t, err)
	wg.Wait()
	require.Equal(t, map[string]int{"200": 4, "429": 1}, requests(b, brazefake.PathTrack), "the second caller waited for the reset")
}

func TestRateLimitStormBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, func(c *braze.Config) {
		c.Retry.MaxRateLimited = 3
		c.Retry.MaxResetWait = 5 * time.Millisecond
	})
	b.fake.FailNext("", brazefake.FaultRateLimit, 100)
	_, err := b.client.Track(t.Context(), attrs(1, simple), nil)
	var apiErr *braze.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusTooManyRequests, apiErr.Status)
	require.Equal(t, map[string]int{"429": 4}, requests(b, brazefake.PathTrack), "the first answer and 3 waits")
}

func TestTransientFailuresRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  brazefake.Fault
		status string // the label of the failed attempts
	}{
		{"ServerError", brazefake.FaultServerError, "500"},
		{"Timeout", brazefake.FaultTimeout, "error"},
		{"Dropped", brazefake.FaultDrop, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, brazefake.Options{Faults: brazefake.Faults{Hang: 5 * time.Second}}, func(c *braze.Config) {
				c.Retry.AttemptTimeout = 750 * time.Millisecond
			})
			b.fake.FailNext(brazefake.PathTrack, tc.fault, 2)
			minors, err := b.client.Track(t.Context(), attrs(1, simple), nil)
			require.NoError(t, err)
			require.Empty(t, minors)
			p, ok := b.fake.Profile("id0")
			require.True(t, ok)
			require.Equal(t, "subscribed", p.Standard["email_subscribe"])
			require.Equal(t, 2.0, counterValue(t, b, braze.EndpointTrack, tc.status))
			require.Equal(t, 1.0, counterValue(t, b, braze.EndpointTrack, "200"))
			require.Equal(t, 3, histogramCount(t, b, braze.EndpointTrack))
		})
	}
}

func TestTransientFailuresBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	b.fake.FailNext("", brazefake.FaultServerError, 100)
	err := b.client.Delete(t.Context(), []string{"a"})
	var apiErr *braze.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusInternalServerError, apiErr.Status)
	require.Equal(t, map[string]int{"500": 4}, requests(b, brazefake.PathDelete), "MaxAttempts")

	// A cancelled context ends the back-off at once.
	b2 := setup(t, brazefake.Options{}, func(c *braze.Config) {
		c.Retry.BaseDelay, c.Retry.MaxDelay = time.Hour, time.Hour
	})
	b2.fake.FailNext("", brazefake.FaultServerError, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = b2.client.Delete(ctx, []string{"a"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDroppedAfterApplyRepeatsTheSameState(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	b.fake.FailNext(brazefake.PathTrack, brazefake.FaultDrop, 1)
	a := braze.Attributes{
		"external_id": "e1", "_update_existing_only": false, "email": "e1@example.com",
		"email_subscribe":     "opted_in",
		"subscription_groups": []map[string]any{{"subscription_group_id": "g1", "subscription_state": "subscribed"}},
		"user_attributes_v1":  []map[string]any{{"basket_token": "t", "created_at": map[string]any{"$time": "2026-01-01T00:00:00Z"}}},
	}
	_, err := b.client.Track(t.Context(), []braze.Attributes{a}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"dropped": 1, "200": 1}, requests(b, brazefake.PathTrack))
	require.Len(t, b.fake.Writes(), 2, "applied twice")
	profiles := b.fake.Profiles()
	require.Len(t, profiles, 1, "one profile, not two")
	p := profiles["e1"]
	require.Equal(t, map[string]any{"email": "e1@example.com", "email_subscribe": "opted_in"}, p.Standard)
	require.Equal(t, map[string]string{"g1": "subscribed"}, p.SubscriptionGroups)
	require.Equal(t, []any{map[string]any{"basket_token": "t", "created_at": "2026-01-01T00:00:00.000Z"}}, p.Custom["user_attributes_v1"])
}

func TestMinorErrorsReturned(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	minors, err := b.client.Track(t.Context(),
		[]braze.Attributes{simple(0), {"email_subscribe": "subscribed"}, simple(2), {"external_id": "x", "email_subscribe": "maybe"}},
		[]braze.Event{{"external_id": "id0", "name": "n - subscribe"}, {"external_id": "id0", "name": "n", "time": "2026-01-01T00:00:00Z"}})
	require.NoError(t, err)
	require.Len(t, minors, 3)
	for i, want := range []struct {
		array string
		index int
	}{{"attributes", 1}, {"attributes", 3}, {"events", 0}} {
		require.Equal(t, want.array, minors[i].InputArray)
		require.Equal(t, want.index, minors[i].Index)
		require.NotEmpty(t, minors[i].Type)
	}
	require.Len(t, b.fake.Profiles(), 2, "the rest of the batch was applied")
	p, _ := b.fake.Profile("id0")
	require.Len(t, p.Events, 1)

	// Aliases: the accepted ones are added, the rejected ones named.
	err = b.client.NewAliases(t.Context(), []braze.Alias{
		{ExternalID: "id0", Label: "fxa_id", Name: "f"}, {ExternalID: "nobody", Label: "basket_token", Name: "t"},
	})
	var me *braze.MinorErrors
	require.ErrorAs(t, err, &me)
	require.Len(t, me.Errors, 1)
	require.Equal(t, 1, me.Errors[0].Index)
	p, _ = b.fake.Profile("id0")
	require.Equal(t, []brazefake.Alias{{Label: "fxa_id", Name: "f"}}, p.Aliases)
	require.NoError(t, b.client.NewAliases(t.Context(), []braze.Alias{{ExternalID: "id0", Label: "fxa_id", Name: "f"}}),
		"adding an alias again is harmless")
}

func TestAuthErrorsNotRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{LimitedKeys: map[string][]string{"track-only": {brazefake.PathTrack}}}, nil)
	for _, tc := range []struct {
		key    string
		status int
	}{{"wrong", http.StatusUnauthorized}, {"track-only", http.StatusForbidden}} {
		c, err := braze.New(braze.Config{URL: b.url, APIKey: tc.key, Retry: braze.RetryPolicy{BaseDelay: time.Millisecond}})
		require.NoError(t, err)
		err = c.Delete(t.Context(), []string{"a"})
		require.ErrorIs(t, err, braze.ErrAuth)
		var apiErr *braze.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, tc.status, apiErr.Status)
	}
	require.Equal(t, map[string]int{"401": 1, "403": 1}, requests(b, brazefake.PathDelete), "one request each")
}

func TestOtherClientErrorsNotRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message":"Valid data must be provided"}`))
	}))
	t.Cleanup(ts.Close)
	c, err := braze.New(braze.Config{URL: ts.URL, APIKey: key})
	require.NoError(t, err)
	_, err = c.Track(t.Context(), attrs(1, simple), nil)
	var apiErr *braze.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, braze.APIError{Endpoint: braze.EndpointTrack, Status: 400, Message: "Valid data must be provided"}, *apiErr)
	require.NotErrorIs(t, err, braze.ErrAuth)
	require.Equal(t, int32(1), n.Load())
}

// TestRateLimiterHoldsUnderTheLimit sends concurrent requests through a client whose limit
// (10/s, burst 1: at most 3 per 200 ms) is below the fake's (5 per 200 ms window): no request
// is refused. Without the limiter the fake refuses most of them.
func TestRateLimiterHoldsUnderTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{TrackLimit: brazefake.Limit{Requests: 5, Window: 200 * time.Millisecond}},
		func(c *braze.Config) { c.TrackRate = 10 })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				_, err := b.client.Track(t.Context(), []braze.Attributes{simple(w*10 + i)}, nil)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, map[string]int{"200": 20}, requests(b, brazefake.PathTrack), "no 429")
}

func TestExport(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	_, err := b.client.Track(t.Context(), []braze.Attributes{{
		"external_id": "e1", "email": "e1@example.com", "email_subscribe": "unsubscribed", "language": "fr",
		"user_attributes_v1": []map[string]any{{"has_fxa": true}},
	}}, nil)
	require.NoError(t, err)
	require.NoError(t, b.client.NewAliases(t.Context(), []braze.Alias{{ExternalID: "e1", Label: "basket_token", Name: "t"}}))
	profiles, err := b.client.Export(t.Context(), []string{"e1", "missing"})
	require.NoError(t, err)
	require.Equal(t, []braze.Profile{{
		"external_id": "e1", "email": "e1@example.com", "email_subscribe": "unsubscribed", "language": "fr",
		"custom_attributes": map[string]any{"user_attributes_v1": []any{map[string]any{"has_fxa": true}}},
		"user_aliases":      []any{map[string]any{"alias_label": "basket_token", "alias_name": "t"}},
	}}, profiles)
}

func TestMetricsSharedRegistry(t *testing.T) {
	t.Parallel()
	b := setup(t, brazefake.Options{}, nil)
	// A second client on the same registry shares the families instead of failing.
	c2, err := braze.New(braze.Config{URL: b.url, APIKey: key, Registerer: b.reg})
	require.NoError(t, err)
	_, err = b.client.Export(t.Context(), []string{"a"})
	require.NoError(t, err)
	_, err = c2.Export(t.Context(), []string{"a"})
	require.NoError(t, err)
	require.Equal(t, 2.0, counterValue(t, b, braze.EndpointExport, "200"))
	require.Equal(t, 2, histogramCount(t, b, braze.EndpointExport))
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	require.Equal(t, []string{"ctms_background_braze_request_total", "ctms_background_braze_requests_duration_seconds"}, names)
}

// counterValue reads ctms_background_braze_request_total{endpoint,status} (0 when absent).
func counterValue(t *testing.T, b *bundle, endpoint, status string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "ctms_background_braze_request_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["endpoint"] == endpoint && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func histogramCount(t *testing.T, b *bundle, endpoint string) int {
	t.Helper()
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "ctms_background_braze_requests_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == endpoint {
				return int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []braze.Config{
		{APIKey: key},
		{URL: "https://rest.iad-01.braze.com"},
		{URL: "rest.iad-01.braze.com", APIKey: key},
		{URL: "ftp://rest.iad-01.braze.com", APIKey: key},
	} {
		_, err := braze.New(cfg)
		require.Error(t, err, cfg.URL)
		require.NotContains(t, err.Error(), key, "the key is never in an error")
	}
	_, err := braze.New(braze.Config{URL: "https://rest.iad-01.braze.com/", APIKey: key})
	require.NoError(t, err)
}
