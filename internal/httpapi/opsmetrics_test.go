package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/obs"
)

// Refused logins are counted by a fixed reason; the submitted client id never
// becomes a label value (docs/operations.md, token-failure spike alert).
func TestMetricsTokenFailuresByReason(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	reason := func(r obs.TokenFailure) float64 {
		v, ok := sample(o.families(t), "ctms_token_failures_total", map[string]string{"reason": string(r)})
		require.True(t, ok, "reason %s is pre-created", r)
		return v
	}
	for _, r := range obs.TokenFailures {
		require.Zero(t, reason(r))
	}
	disabledID, disabledSecret := o.createClient(false)
	submitted := "id_attacker_submitted_value"

	require.Equal(t, http.StatusBadRequest, o.postToken(url.Values{}).Status)
	require.Equal(t, http.StatusBadRequest, o.postToken(url.Values{"client_id": {submitted}, "client_secret": {"secret_x"}}).Status)
	require.Equal(t, http.StatusBadRequest, o.postToken(url.Values{"client_id": {disabledID}, "client_secret": {disabledSecret}}).Status)
	require.Equal(t, http.StatusBadRequest, o.postToken(url.Values{"client_id": {o.clientID}, "client_secret": {"secret_wrong"}}).Status)
	require.Equal(t, 1.0, reason(obs.TokenNoCredentials))
	require.Equal(t, 1.0, reason(obs.TokenUnknownClient))
	require.Equal(t, 1.0, reason(obs.TokenClientDisabled))
	require.Equal(t, 1.0, reason(obs.TokenBadSecret))

	throttled := false
	for range 50 { // the throttle's limit is far below 50 (throttle.go)
		if o.postToken(url.Values{"client_id": {submitted}, "client_secret": {"secret_x"}}).Status == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	require.True(t, throttled)
	require.Equal(t, 1.0, reason(obs.TokenThrottled))

	var reasons []string
	for _, m := range o.families(t)["ctms_token_failures_total"].Metric {
		require.Len(t, m.Label, 1)
		reasons = append(reasons, m.Label[0].GetValue())
	}
	want := make([]string, 0, len(obs.TokenFailures))
	for _, r := range obs.TokenFailures {
		want = append(want, string(r))
	}
	require.ElementsMatch(t, want, reasons, "the reasons are a fixed set, never a submitted value")
}

// The operational families: Go runtime, process, build info.
func TestMetricsRuntimeAndBuildInfo(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	fams := o.families(t)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_start_time_seconds", "process_resident_memory_bytes", "ctms_build_info"} {
		require.Contains(t, fams, name)
	}
	b := fams["ctms_build_info"].Metric[0]
	require.Equal(t, 1.0, b.GetGauge().GetValue())
	labels := map[string]bool{}
	for _, l := range b.Label {
		labels[l.GetName()] = true
	}
	require.Equal(t, map[string]bool{"version": true, "commit": true}, labels)
}
