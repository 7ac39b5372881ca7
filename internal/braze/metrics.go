package braze

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets are those of the Python CTMS's background metrics (0.01 … 10 s).
var durationBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10}

type metrics struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
}

// newMetrics creates the client's metric families and registers them with reg (when not
// nil), reusing the families another Client registered there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctms_background_braze_request_total",
			Help: "Requests (attempts) sent to Braze, by endpoint and HTTP status (\"error\": no answer).",
		}, []string{"endpoint", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ctms_background_braze_requests_duration_seconds",
			Help:    "Duration of the requests (attempts) sent to Braze, by endpoint (in seconds).",
			Buckets: durationBuckets,
		}, []string{"endpoint"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.requests); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.requests = are.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(m.durations); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.durations = are.ExistingCollector.(*prometheus.HistogramVec)
	}
	return m, nil
}

func (m *metrics) observe(endpoint, status string, d time.Duration) {
	m.requests.WithLabelValues(endpoint, status).Inc()
	m.durations.WithLabelValues(endpoint).Observe(d.Seconds())
}
