// Command ctms-dashboards writes the Grafana dashboards CTMS Telemetry and CTMS Alerts as
// JSON into deploy/grafana (make dashboards), with the Grafana Foundation SDK. The files are
// committed; make check fails when they differ from what this program writes, and make ops-test
// evaluates every query of every panel against a Prometheus scraping real instances
// (docs/operations.md).
//
// Conventions the ops-test relies on: every query is PromQL on the ${datasource} variable, and
// a panel whose description contains FailureOnly shows data only while something fails.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// FailureOnly marks the description of a panel that is empty while nothing fails.
const FailureOnly = "Empty while nothing fails."

// Selectors: the scrape job is "ctms", that of the Braze syncer replicas "ctms-sync"
// (deploy/prometheus/ctms.rules.yml assumes the same).
const (
	syncJob  = `job="ctms-sync"`
	sel      = `job="ctms",instance=~"$instance"`
	selRoute = `job="ctms",instance=~"$instance",path_template=~"$route"`
	rate     = `[$__rate_interval]`
)

func main() {
	out := flag.String("out", "deploy/grafana", "directory to write the dashboards into")
	flag.Parse()
	for name, b := range map[string]*dashboard.DashboardBuilder{
		"ctms-telemetry.json": telemetry(),
		"ctms-alerts.json":    alerts(),
	} {
		if err := write(filepath.Join(*out, name), b); err != nil {
			fmt.Fprintln(os.Stderr, "ctms-dashboards:", err)
			os.Exit(1)
		}
	}
}

func write(path string, b *dashboard.DashboardBuilder) error {
	d, err := b.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644) // #nosec G306 -- a public, committed file
}

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func base(title, uid, desc string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(desc).
		Tags([]string{"ctms"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone("utc").
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
}

func queryVar(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

func q(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).LegendFormat(legend)
}

func series(title, desc, unit string, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Unit(unit).Height(8).Span(12).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	for i, t := range targets {
		p.WithTarget(t.RefId("ABCDEFGHIJ"[i : i+1]))
	}
	return p
}

func single(title, desc, unit string, t *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Unit(unit).Height(4).Span(6).WithTarget(t.RefId("A")).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

func thresholds(steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func step(v *float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: v, Color: color}
}

func telemetry() *dashboard.DashboardBuilder {
	return base("CTMS Telemetry", "ctms-telemetry",
		"Operational metrics of the CTMS instances (docs/operations.md#ctms-telemetry). Counters are shown as rates, summed across instances: each instance keeps its own and they reset on deploys.").
		WithVariable(queryVar("instance", "Instance", `label_values(up{job="ctms"}, instance)`)).
		WithVariable(queryVar("route", "Route", `label_values(ctms_requests_total{job="ctms"}, path_template)`)).
		WithRow(dashboard.NewRowBuilder("Requests")).
		WithPanel(series("Request rate by route and status family", "Requests per second, by route and status family.", "reqps",
			q(`sum by (path_template, status_code_family) (rate(ctms_requests_total{`+selRoute+`}`+rate+`))`, "{{path_template}} {{status_code_family}}"))).
		WithPanel(series("Error ratio", "Share of responses that are 5xx (server errors: the availability SLO) and 4xx (refused requests).", "percentunit",
			q(`(sum(rate(ctms_requests_total{`+selRoute+`,status_code_family="5xx"}`+rate+`)) or vector(0)) / sum(rate(ctms_requests_total{`+selRoute+`}`+rate+`))`, "5xx"),
			q(`(sum(rate(ctms_requests_total{`+selRoute+`,status_code_family="4xx"}`+rate+`)) or vector(0)) / sum(rate(ctms_requests_total{`+selRoute+`}`+rate+`))`, "4xx"))).
		WithPanel(series("Latency p50 / p95 / p99 by route", "Request duration quantiles per route, from the histogram (buckets 0.01 to 10 s: quantiles are interpolated within a bucket).", "s",
			q(`histogram_quantile(0.5, sum by (path_template, le) (rate(ctms_requests_duration_seconds_bucket{`+selRoute+`}`+rate+`)))`, "p50 {{path_template}}"),
			q(`histogram_quantile(0.95, sum by (path_template, le) (rate(ctms_requests_duration_seconds_bucket{`+selRoute+`}`+rate+`)))`, "p95 {{path_template}}"),
			q(`histogram_quantile(0.99, sum by (path_template, le) (rate(ctms_requests_duration_seconds_bucket{`+selRoute+`}`+rate+`)))`, "p99 {{path_template}}"))).
		WithPanel(series("API requests per client id", "Authenticated API requests per second, by API client and status family.", "reqps",
			q(`sum by (client_id, status_code_family) (rate(ctms_api_requests_total{`+selRoute+`}`+rate+`))`, "{{client_id}} {{status_code_family}}"))).
		WithPanel(series("Contacts", "Estimated number of contacts (the planner's estimate, refreshed by /__heartbeat__).", "short",
			q(`max(ctms_contacts_total{`+sel+`})`, "contacts"))).
		WithPanel(series("Token failures by reason", "Refused POST /token logins per second, by reason (no_credentials, unknown_client, client_disabled, bad_secret, throttled). A rise in unknown_client or bad_secret with throttled is a brute-force attempt.", "reqps",
			q(`sum by (reason) (rate(ctms_token_failures_total{`+sel+`}`+rate+`))`, "{{reason}}"))).
		WithRow(dashboard.NewRowBuilder("Database pool")).
		WithPanel(series("Pool saturation", "Connections in use over the pool's maximum, per instance and pool. At 100% requests wait for a connection.", "percentunit",
			q(`max by (instance, pool) (ctms_db_pool_acquired_connections{`+sel+`} / ctms_db_pool_max_connections{`+sel+`})`, "{{instance}} {{pool}}")).Min(0).Max(1)).
		WithPanel(series("Pool acquire wait", "Mean time a request waited for a connection, and acquisitions per second that found no idle connection or were abandoned.", "s",
			q(`sum by (instance, pool) (rate(ctms_db_pool_acquire_wait_seconds_total{`+sel+`}`+rate+`)) / sum by (instance, pool) (rate(ctms_db_pool_acquires_total{`+sel+`}`+rate+`))`, "mean wait {{instance}} {{pool}}"),
			q(`sum by (instance, pool) (rate(ctms_db_pool_empty_acquires_total{`+sel+`}`+rate+`))`, "waited/s {{instance}} {{pool}}"),
			q(`sum by (instance, pool) (rate(ctms_db_pool_canceled_acquires_total{`+sel+`}`+rate+`))`, "canceled/s {{instance}} {{pool}}"))).
		WithRow(dashboard.NewRowBuilder("Change feeds")).
		WithPanel(series("Oldest in-flight contact write", "How long the oldest transaction that wrote contacts has been open (the database's view, the same from every instance). GET /updates and /deletions end their windows before it, for at most CTMS_FEED_MAX_WRITE_WAIT (alert CTMSFeedHeldByOldWrite above 60 s for a minute); 0 when none.", "s",
			q(`max(ctms_feed_oldest_write_age_seconds{`+sel+`})`, "oldest write")).Min(0)).
		WithRow(dashboard.NewRowBuilder("Braze sync")).
		WithPanel(series("Sync age and lag", "Age of the oldest change not pushed to Braze (the database's view, the same from every replica; alert CTMSBrazeSyncLagging above 60 s for 5 minutes), and the time from a change to Braze's acknowledgement (p50, p99; histogram buckets 0.25 s to 1 h).", "s",
			q(`max(ctms_background_braze_sync_age_seconds{`+syncJob+`})`, "oldest unpushed change"),
			q(`histogram_quantile(0.5, sum by (le) (rate(ctms_background_braze_sync_lag_seconds_bucket{`+syncJob+`}`+rate+`)))`, "lag p50"),
			q(`histogram_quantile(0.99, sum by (le) (rate(ctms_background_braze_sync_lag_seconds_bucket{`+syncJob+`}`+rate+`)))`, "lag p99")).Min(0)).
		WithPanel(series("Sync backlog", "Contacts waiting for a push, those of them that failed before (retrying) and those parked past CTMS_SYNC_MAX_RETRIES (dead letters: alert CTMSBrazeSyncDeadLetters; ctms sync status lists them). A backlog growing past 1000 for 10 minutes: alert CTMSBrazeSyncBacklogGrowing.", "short",
			q(`max(ctms_background_braze_sync_backlog{`+syncJob+`})`, "backlog"),
			q(`max(ctms_background_braze_sync_retries{`+syncJob+`})`, "retrying"),
			q(`max(ctms_background_braze_sync_dead_letters{`+syncJob+`})`, "dead letters")).Min(0)).
		WithPanel(series("Pushes per second", "Contacts whose change Braze acknowledged, per second, by action (track: state pushed, delete: profile deleted, alias: aliases added), and failed pushes by kind (minor: one object of a batch refused, request: a whole request failed, auth: the key refused).", "ops",
			q(`sum by (action) (rate(ctms_background_braze_sync_total{`+syncJob+`}`+rate+`))`, "{{action}}"),
			q(`sum by (kind) (rate(ctms_background_braze_sync_errors_total{`+syncJob+`}`+rate+`))`, "failed {{kind}}"))).
		WithPanel(series("Braze requests by endpoint and status", "Requests (attempts, retries included) the syncer sends to Braze per second, by endpoint and HTTP status (error: no answer). 429: Braze's rate limit; 401/403: the key is refused (alert CTMSBrazeAuthFailed).", "reqps",
			q(`sum by (endpoint, status) (rate(ctms_background_braze_request_total{`+syncJob+`}`+rate+`))`, "{{endpoint}} {{status}}"))).
		WithPanel(series("Braze request latency", "Duration of the requests to Braze by endpoint, p50 and p99 (buckets 0.01 to 10 s: quantiles are interpolated within a bucket).", "s",
			q(`histogram_quantile(0.5, sum by (endpoint, le) (rate(ctms_background_braze_requests_duration_seconds_bucket{`+syncJob+`}`+rate+`)))`, "p50 {{endpoint}}"),
			q(`histogram_quantile(0.99, sum by (endpoint, le) (rate(ctms_background_braze_requests_duration_seconds_bucket{`+syncJob+`}`+rate+`)))`, "p99 {{endpoint}}"))).
		WithPanel(series("Syncer replicas and leader", "Replicas Prometheus scrapes (alert CTMSBrazeSyncDown at 0), replicas holding the leader lock (exactly 1: alert CTMSBrazeSyncLeaderCount otherwise) and whether Braze refuses the key (1: nothing is pushed).", "short",
			q(`sum(up{`+syncJob+`})`, "replicas up"),
			q(`sum(ctms_background_braze_sync_leader{`+syncJob+`})`, "leaders"),
			q(`max(ctms_background_braze_sync_auth_failed{`+syncJob+`})`, "key refused")).Min(0)).
		WithRow(dashboard.NewRowBuilder("Go runtime")).
		WithPanel(series("Memory", "Heap in use and resident memory per instance.", "bytes",
			q(`go_memstats_heap_inuse_bytes{`+sel+`}`, "heap {{instance}}"),
			q(`process_resident_memory_bytes{`+sel+`}`, "rss {{instance}}"))).
		WithPanel(series("Goroutines", "Goroutines per instance (about one per open connection and request in flight).", "short",
			q(`go_goroutines{`+sel+`}`, "{{instance}}"))).
		WithPanel(series("Garbage collection", "Collections per second and the share of time spent in GC pauses, per instance.", "short",
			q(`rate(go_gc_duration_seconds_count{`+sel+`}`+rate+`)`, "GC/s {{instance}}"),
			q(`rate(go_gc_duration_seconds_sum{`+sel+`}`+rate+`)`, "pause share {{instance}}"))).
		WithPanel(series("CPU", "CPU seconds per second per instance.", "short",
			q(`rate(process_cpu_seconds_total{`+sel+`}`+rate+`)`, "{{instance}}"))).
		WithRow(dashboard.NewRowBuilder("Instances")).
		WithPanel(single("Instances up", "Instances Prometheus scrapes successfully.", "short",
			q(`sum(up{`+sel+`})`, "up")).Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(1.0), "green")))).
		WithPanel(series("Restarts", "Process starts per instance within the selected range (a deploy restarts each instance once).", "short",
			q(`max by (instance) (changes(process_start_time_seconds{`+sel+`}[$__range]))`, "{{instance}}"))).
		WithPanel(table.NewPanelBuilder().Title("Build per instance").Description("Version and commit each instance runs (ctms_build_info): during a rolling deploy two builds appear.").
			Datasource(ds).Height(8).Span(12).
			WithTarget(q(`max by (instance, version, commit) (ctms_build_info{`+sel+`})`, "").Format(prometheus.PromQueryFormatTable).Instant().RefId("A")))
}

// Burn rates are the SLO error ratio over the budget (1 = the budget lasts exactly 30 days).
func burnPanel(title, rec, budget, what string) *timeseries.PanelBuilder {
	p := series(title, "Error-budget burn rate of the "+what+" SLO per window (1 = the 30-day budget lasts exactly 30 days). Pages when the 1h and 5m windows exceed 14.4 or the 6h and 30m windows exceed 6; tickets at 3 (1d and 2h) and 1 (3d and 6h).", "short")
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"} {
		p.WithTarget(q(`ctms:`+rec+`:ratio_rate`+w+` / `+budget, w).RefId(w))
	}
	return p.Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(1.0), "yellow"), step(cog.ToPtr(6.0), "orange"), step(cog.ToPtr(14.4), "red"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
}

func alerts() *dashboard.DashboardBuilder {
	job := `job="ctms"`
	return base("CTMS Alerts", "ctms-alerts",
		"The SLO view and the panels on-call opens first (docs/operations.md#ctms-alerts). Deployment-wide, from the recording rules of deploy/prometheus/ctms.rules.yml.").
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(single("Instances up", "Instances Prometheus scrapes successfully (alert CTMSNoInstanceUp at 0).", "short",
			q(`ctms:instances_up`, "up")).Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(1.0), "green")))).
		WithPanel(single("Alerts firing", "CTMS alerts firing now.", "short",
			q(`count(ALERTS{alertname=~"CTMS.*",alertstate="firing"}) or vector(0)`, "firing")).Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(1.0), "red")))).
		WithPanel(single("Availability (1h)", "Share of non-5xx responses over the last hour (SLO: 99.9% over 30 days).", "percentunit",
			q(`1 - ctms:slo_errors:ratio_rate1h`, "availability")).Decimals(3)).
		WithPanel(single("Fast requests (1h)", "Share of requests answered within 0.5 s over the last hour (SLO: 99% over 30 days).", "percentunit",
			q(`1 - ctms:slo_latency:ratio_rate1h`, "within 0.5 s")).Decimals(3)).
		WithPanel(table.NewPanelBuilder().Title("Alert rules pending or firing").Description("Each CTMS alert rule that is pending or firing, with its labels; the runbook of each is in docs/operations.md. " + FailureOnly).
			Datasource(ds).Height(8).Span(24).
			WithTarget(q(`max by (alertname, alertstate, severity, instance, pool) (ALERTS{alertname=~"CTMS.*"})`, "").Format(prometheus.PromQueryFormatTable).Instant().RefId("A"))).
		WithRow(dashboard.NewRowBuilder("Error budgets")).
		WithPanel(burnPanel("Availability budget burn rate", "slo_errors", "0.001", "availability (99.9% non-5xx)")).
		WithPanel(burnPanel("Latency budget burn rate", "slo_latency", "0.01", "latency (99% within 0.5 s)")).
		WithRow(dashboard.NewRowBuilder("First look")).
		WithPanel(series("Requests by status family", "Requests per second across the deployment, by status family.", "reqps",
			q(`sum by (status_code_family) (ctms:requests:rate5m)`, "{{status_code_family}}"))).
		WithPanel(series("5xx by route", "Server errors per second by route. "+FailureOnly, "reqps",
			q(`sum by (path_template, status_code) (rate(ctms_requests_total{`+job+`,status_code_family="5xx"}`+rate+`))`, "{{path_template}} {{status_code}}"))).
		WithPanel(series("Heartbeat failures by instance", "/__heartbeat__ 5xx answers per second: the instance cannot reach the database (alert CTMSDatabaseUnreachable). "+FailureOnly, "reqps",
			q(`sum by (instance) (rate(ctms_requests_total{`+job+`,path_template="/__heartbeat__",status_code_family="5xx"}`+rate+`))`, "{{instance}}"))).
		WithPanel(series("Latency p99", "99th percentile request duration across the deployment, all routes but the probes.", "s",
			q(`histogram_quantile(0.99, sum by (le) (rate(ctms_requests_duration_seconds_bucket{`+job+`,path_template!~"/__(lb)?heartbeat__|/metrics"}`+rate+`)))`, "p99"))).
		WithPanel(series("Pool saturation", "Highest share of pool connections in use, per instance (alert CTMSPoolSaturated at 90% for 5 minutes).", "percentunit",
			q(`max by (instance) (ctms_db_pool_acquired_connections{`+job+`} / ctms_db_pool_max_connections{`+job+`})`, "{{instance}}")).Min(0).Max(1)).
		WithPanel(series("Token failures", "Refused POST /token logins per second by reason (alert CTMSTokenFailureSpike above 1/s for 5 minutes).", "reqps",
			q(`sum by (reason) (rate(ctms_token_failures_total{`+job+`}`+rate+`))`, "{{reason}}"))).
		WithPanel(series("Oldest in-flight contact write", "How long the oldest open transaction that wrote contacts has held back GET /updates and /deletions (alert CTMSFeedHeldByOldWrite above 60 s for a minute; the feeds stop waiting at CTMS_FEED_MAX_WRITE_WAIT, 5 minutes by default).", "s",
			q(`max(ctms_feed_oldest_write_age_seconds{`+job+`})`, "oldest write")).Min(0)).
		WithRow(dashboard.NewRowBuilder("Braze sync")).
		WithPanel(single("Active syncers", "Replicas of ctms sync holding the leader lock: exactly 1 (alert CTMSBrazeSyncLeaderCount otherwise, CTMSBrazeSyncDown when no replica is up).", "short",
			q(`sum(ctms_background_braze_sync_leader{`+syncJob+`})`, "leaders")).Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(1.0), "green"), step(cog.ToPtr(2.0), "red")))).
		WithPanel(single("Oldest unpushed change", "Age of the oldest change not pushed to Braze yet (alert CTMSBrazeSyncLagging above 60 s for 5 minutes).", "s",
			q(`max(ctms_background_braze_sync_age_seconds{`+syncJob+`})`, "age")).Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(60.0), "red")))).
		WithPanel(single("Braze dead letters", "Contacts parked past CTMS_SYNC_MAX_RETRIES (alert CTMSBrazeSyncDeadLetters): ctms sync status lists them, ctms sync retry requeues them.", "short",
			q(`max(ctms_background_braze_sync_dead_letters{`+syncJob+`})`, "dead letters")).Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(1.0), "red")))).
		WithPanel(single("Braze key refused", "1 while Braze answers 401/403 to the syncer: nothing is pushed (alert CTMSBrazeAuthFailed).", "short",
			q(`max(ctms_background_braze_sync_auth_failed{`+syncJob+`})`, "key refused")).Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(1.0), "red")))).
		WithPanel(series("Sync backlog", "Contacts waiting for a push and those of them retrying (alert CTMSBrazeSyncBacklogGrowing when over 1000 and growing for 10 minutes).", "short",
			q(`max(ctms_background_braze_sync_backlog{`+syncJob+`})`, "backlog"),
			q(`max(ctms_background_braze_sync_retries{`+syncJob+`})`, "retrying")).Min(0)).
		WithPanel(series("Braze requests failing", "Requests to Braze per second answered 401/403 (key refused), 429 (rate limited), 5xx, or not at all (error), by endpoint and status. "+FailureOnly, "reqps",
			q(`sum by (endpoint, status) (rate(ctms_background_braze_request_total{`+syncJob+`,status=~"401|403|429|5..|error"}`+rate+`))`, "{{endpoint}} {{status}}")))
}
