package obs

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ctms-go/ctms/internal/version"
)

// The metrics below are CTMS-Go's own, beyond the Python CTMS's four families: the
// operational series the dashboards and alerts of deploy/ use (docs/operations.md).

// TokenFailure is why POST /token refused a login: a fixed set, so that no submitted
// value (a client id, a secret) can ever become a label value.
type TokenFailure string

// The reasons of ctms_token_failures_total, all pre-created at zero.
const (
	TokenNoCredentials  TokenFailure = "no_credentials"  // neither form fields nor Basic credentials
	TokenThrottled      TokenFailure = "throttled"       // too many recent failures for the client id
	TokenUnknownClient  TokenFailure = "unknown_client"  // no such client id
	TokenClientDisabled TokenFailure = "client_disabled" // the client is disabled
	TokenBadSecret      TokenFailure = "bad_secret"      // wrong client secret
)

// TokenFailures lists every reason.
var TokenFailures = []TokenFailure{TokenNoCredentials, TokenThrottled, TokenUnknownClient, TokenClientDisabled, TokenBadSecret}

// registerOps adds the Go runtime and process collectors, ctms_build_info and
// ctms_token_failures_total to m's registry.
func (m *Metrics) registerOps() {
	m.tokenFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ctms_token_failures_total",
		Help: "Refused POST /token logins by reason.",
	}, []string{"reason"})
	for _, r := range TokenFailures {
		m.tokenFailures.WithLabelValues(string(r))
	}
	v := version.Current()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "ctms_build_info",
		Help:        "The running build (value 1): version and commit as served by /__version__.",
		ConstLabels: prometheus.Labels{"version": v.Version, "commit": v.Commit},
	})
	build.Set(1)
	m.Registry.MustRegister(m.tokenFailures, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// TokenFailed counts one refused POST /token login. A reason outside TokenFailures
// is not counted (labels stay a fixed set).
func (m *Metrics) TokenFailed(r TokenFailure) {
	if m == nil {
		return
	}
	for _, known := range TokenFailures {
		if r == known {
			m.tokenFailures.WithLabelValues(string(r)).Inc()
			return
		}
	}
}

// RegisterPool exports p's statistics as ctms_db_pool_* with the label pool=name
// ("primary", "read"), read from pgxpool.Stat at each scrape. Each pool has its own
// collector whose descriptors carry pool as a constant label, so that the registry tells
// the primary's collector from the read pool's (with a variable label, both would
// describe the same metrics and the second registration would be refused).
func (m *Metrics) RegisterPool(name string, p *pgxpool.Pool) error {
	return m.Registry.Register(newPoolCollector(name, p.Stat))
}

type poolCollector struct {
	stat func() *pgxpool.Stat
	// The descriptors, for this pool's label.
	acquired, idle, constructing, total, maxConns                       *prometheus.Desc
	acquires, acquireWait, emptyAcquires, emptyWait, canceled, newConns *prometheus.Desc
}

func newPoolCollector(name string, stat func() *pgxpool.Stat) *poolCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc("ctms_db_pool_"+metric, help, nil, prometheus.Labels{"pool": name})
	}
	return &poolCollector{
		stat:          stat,
		acquired:      desc("acquired_connections", "Connections in use by a request."),
		idle:          desc("idle_connections", "Open connections not in use."),
		constructing:  desc("constructing_connections", "Connections being opened."),
		total:         desc("total_connections", "Open connections (acquired + idle + constructing)."),
		maxConns:      desc("max_connections", "Largest number of connections the pool opens (CTMS_DB_POOL_SIZE + CTMS_DB_MAX_OVERFLOW)."),
		acquires:      desc("acquires_total", "Successful connection acquisitions."),
		acquireWait:   desc("acquire_wait_seconds_total", "Total time spent acquiring connections (seconds)."),
		emptyAcquires: desc("empty_acquires_total", "Acquisitions that had to wait for a connection (none idle)."),
		emptyWait:     desc("empty_acquire_wait_seconds_total", "Total time acquisitions waited because no connection was idle (seconds)."),
		canceled:      desc("canceled_acquires_total", "Acquisitions abandoned because the request's context ended."),
		newConns:      desc("new_connections_total", "Connections opened."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.constructing, c.total, c.maxConns,
		c.acquires, c.acquireWait, c.emptyAcquires, c.emptyWait, c.canceled, c.newConns} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.maxConns, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireWait, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.emptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
}
