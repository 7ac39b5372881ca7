package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazefake"
	"github.com/ctms-go/ctms/internal/brazesync"
)

// syncMetricName matches the series names of the syncer (ctms sync's /metrics).
var syncMetricName = regexp.MustCompile(`ctms_background_braze_[a-z_]+`)

// syncFamilies returns the metric families `ctms sync` exposes: the syncer's own
// (brazesync.NewMetrics) and the Braze client's, after one request so that the client's
// vectors have a child.
func syncFamilies(t *testing.T) map[string]string {
	t.Helper()
	m := brazesync.NewMetrics(nil)
	fake := httptest.NewServer(brazefake.New(brazefake.Options{APIKey: "k"}))
	t.Cleanup(fake.Close)
	c, err := braze.New(braze.Config{URL: fake.URL, APIKey: "k", Registerer: m.Registry})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), []string{"00000000-0000-0000-0000-000000000001"}); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range fams {
		out[f.GetName()] = f.GetType().String()
	}
	return out
}

// exposed reports whether name is a series of one of fams (histograms expose _bucket,
// _sum and _count).
func exposed(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] == "HISTOGRAM" {
			return true
		}
	}
	return false
}

// TestSyncQueriesNameExposedSeries: make ops-test evaluates the API's panels against real
// instances but scrapes no `ctms sync`; this catches a misspelt or renamed syncer series
// in a panel or an alert rule.
func TestSyncQueriesNameExposedSeries(t *testing.T) {
	fams := syncFamilies(t)
	exprs := map[string]string{} // expression → where
	for _, b := range []*dashboard.DashboardBuilder{telemetry(), alerts()} {
		d, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"expr":"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(raw), -1) {
			var e string
			if err := json.Unmarshal([]byte(`"`+m[1]+`"`), &e); err != nil {
				t.Fatal(err)
			}
			exprs[e] = *d.Title + " dashboard"
		}
	}
	rules, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "ctms.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	exprs[string(rules)] = "deploy/prometheus/ctms.rules.yml"
	seen := map[string]bool{}
	for e, where := range exprs {
		for _, name := range syncMetricName.FindAllString(e, -1) {
			seen[name] = true
			if !exposed(fams, name) {
				t.Errorf("%s (%s) is not a series of ctms sync (exposed: %v)", name, where, fams)
			}
		}
	}
	// Each family is shown somewhere.
	for name, typ := range fams {
		if !strings.HasPrefix(name, "ctms_background_braze_") {
			continue
		}
		if !seen[name] && !(typ == "HISTOGRAM" && seen[name+"_bucket"]) {
			t.Errorf("%s (%s) is on no dashboard panel and in no rule", name, typ)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no syncer series in the dashboards or rules")
	}
}
