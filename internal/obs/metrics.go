// Package obs is CTMS's observability: the Prometheus metrics of the Python
// CTMS (same names, labels and buckets), MozLog JSON logging on log/slog, and
// Sentry error reporting.
package obs

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the four CTMS metric families of the Python service in a private
// registry, CTMS-Go's deletions counter, and its operational metrics (ops.go).
type Metrics struct {
	Registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	durations     *prometheus.HistogramVec
	apiRequests   *prometheus.CounterVec
	contacts      prometheus.Gauge
	tokenFailures *prometheus.CounterVec
	deletions     *prometheus.CounterVec // ours, not in the Python CTMS
}

// DurationBuckets are the Python CTMS's histogram buckets (seconds).
var DurationBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// NewMetrics creates and registers the metric families.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_requests_total",
			Help: "Total count of requests by method, path, status code, and status code family.",
		}, []string{"method", "path_template", "status_code", "status_code_family"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ctms_requests_duration_seconds",
			Help:    "Histogram of requests processing time by path (in seconds)",
			Buckets: DurationBuckets,
		}, []string{"method", "path_template", "status_code_family"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_api_requests_total",
			Help: "Total count of API requests by method, path, client ID, and status code family",
		}, []string{"method", "path_template", "client_id", "status_code_family"}),
		contacts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ctms_contacts_total",
			Help: "Total count of contacts in the database",
		}),
		deletions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_contact_deletions_total",
			Help: "Total count of contacts deleted through the API, by client ID",
		}, []string{"client_id"}),
	}
	m.Registry.MustRegister(m.requests, m.durations, m.apiRequests, m.contacts, m.deletions)
	m.registerOps()
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Family is "2xx", "4xx", ... for a status code.
func Family(status int) string { return strconv.Itoa(status/100) + "xx" }

// ObserveRequest records one request to a known route. clientID is "" when the
// request did not name an API client.
func (m *Metrics) ObserveRequest(method, pathTemplate string, status int, d time.Duration, clientID string) {
	fam := Family(status)
	m.requests.WithLabelValues(method, pathTemplate, strconv.Itoa(status), fam).Inc()
	// Rounded to milliseconds, like the Python service.
	m.durations.WithLabelValues(method, pathTemplate, fam).Observe(math.Round(d.Seconds()*1000) / 1000)
	if clientID != "" {
		m.apiRequests.WithLabelValues(method, pathTemplate, clientID, fam).Inc()
	}
}

// CountDeletions records n contacts deleted by an API client. clientID is an
// authenticated client (an existing row of api_client), so the label set stays
// bounded as for ctms_api_requests_total.
func (m *Metrics) CountDeletions(clientID string, n int) {
	if n > 0 {
		m.deletions.WithLabelValues(clientID).Add(float64(n))
	}
}

// SetContacts sets the contacts gauge (from the heartbeat's estimate).
func (m *Metrics) SetContacts(n float64) { m.contacts.Set(n) }

// Route describes one served route for label pre-initialisation.
type Route struct {
	Method   string
	Path     string
	Statuses []int
	API      bool // requires a bearer client: counted per client id
}

// Preinit creates every label combination at zero so dashboards see series
// before traffic: each route × its given statuses (and their families), each API route ×
// {2xx, 4xx} × each enabled client id ("none" when there is none), and the
// deletions of each client id.
func (m *Metrics) Preinit(routes []Route, clientIDs []string) {
	if len(clientIDs) == 0 {
		clientIDs = []string{"none"}
	}
	for _, id := range clientIDs {
		m.deletions.WithLabelValues(id)
	}
	for _, r := range routes {
		families := map[string]bool{}
		for _, st := range r.Statuses {
			m.requests.WithLabelValues(r.Method, r.Path, strconv.Itoa(st), Family(st))
			families[Family(st)] = true
		}
		for fam := range families {
			m.durations.WithLabelValues(r.Method, r.Path, fam)
		}
		if r.API {
			for _, id := range clientIDs {
				for _, fam := range []string{"2xx", "4xx"} {
					m.apiRequests.WithLabelValues(r.Method, r.Path, id, fam)
				}
			}
		}
	}
}
