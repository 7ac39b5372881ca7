package brazesync

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the syncer's series (ctms_background_braze_*; the Braze client adds its
// request series to the same registry). A nil *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	total      *prometheus.CounterVec
	failures   *prometheus.CounterVec
	lagSeconds prometheus.Histogram
	backlog    prometheus.Gauge
	retrying   prometheus.Gauge
	dead       prometheus.Gauge
	age        prometheus.Gauge
	leader     prometheus.Gauge
	authFailed prometheus.Gauge
}

// The actions of ctms_background_braze_sync_total and kinds of ..._errors_total.
var (
	syncActions = []string{"track", "delete", "alias"}
	errorKinds  = []string{"minor", "request", "auth"}
)

// NewMetrics registers the syncer's series on reg (nil: a new registry).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_background_braze_sync_total",
			Help: "Contacts whose change Braze acknowledged, by action (track: state pushed, delete: profile deleted, alias: aliases added).",
		}, []string{"action"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_background_braze_sync_errors_total",
			Help: "Failed pushes: minor (one object of a batch rejected), request (a whole request failed), auth (the API key was refused).",
		}, []string{"kind"}),
		lagSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ctms_background_braze_sync_lag_seconds",
			Help:    "Time from a contact's change (its transaction's start) to Braze's acknowledgement.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600},
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_backlog",
			Help: "Contacts waiting for a push (dead letters excluded).",
		}),
		retrying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_retries",
			Help: "Contacts waiting for a push that failed before.",
		}),
		dead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_dead_letters",
			Help: "Contacts parked past the retry limit (ctms sync status lists them, ctms sync retry requeues them).",
		}),
		age: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_age_seconds",
			Help: "Age of the oldest change not pushed yet (0: none).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_leader",
			Help: "1 while this replica is the active syncer (holds the leader lock).",
		}),
		authFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_background_braze_sync_auth_failed",
			Help: "1 while Braze refuses the API key (401/403): nothing is pushed until it is fixed.",
		}),
	}
	for _, a := range syncActions {
		m.total.WithLabelValues(a)
	}
	for _, k := range errorKinds {
		m.failures.WithLabelValues(k)
	}
	reg.MustRegister(m.total, m.failures, m.lagSeconds, m.backlog, m.retrying, m.dead, m.age, m.leader, m.authFailed)
	return m
}

func (m *Metrics) synced(action string, n int) {
	if m != nil && n > 0 {
		m.total.WithLabelValues(action).Add(float64(n))
	}
}

func (m *Metrics) errors(kind string, n int) {
	if m != nil && n > 0 {
		m.failures.WithLabelValues(kind).Add(float64(n))
	}
}

func (m *Metrics) lag(d time.Duration) {
	if m != nil {
		m.lagSeconds.Observe(max(d.Seconds(), 0))
	}
}

func (m *Metrics) setStatus(s Status, now time.Time) {
	if m == nil {
		return
	}
	m.backlog.Set(float64(s.Backlog))
	m.retrying.Set(float64(s.Retrying))
	m.dead.Set(float64(s.Dead))
	age := 0.0
	if s.Oldest != nil {
		age = max(now.Sub(*s.Oldest).Seconds(), 0)
	}
	m.age.Set(age)
}

func (m *Metrics) setLeader(on bool) {
	if m != nil {
		m.leader.Set(b2f(on))
	}
}

func (m *Metrics) setAuthFailed(on bool) {
	if m != nil {
		m.authFailed.Set(b2f(on))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
