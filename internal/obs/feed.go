package obs

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// oldestWriteAge is ctms_feed_oldest_write_age_seconds: how long the oldest contact
// write still in flight has held its write-start marker. /updates and /deletions end
// their default window before it (for at most CTMS_FEED_MAX_WRITE_WAIT), so a
// growing value is a feed held back: a forgotten psql session, a stuck job.
var oldestWriteAge = prometheus.NewDesc("ctms_feed_oldest_write_age_seconds",
	"Age of the oldest in-flight contact write, which /updates and /deletions wait behind (at most CTMS_FEED_MAX_WRITE_WAIT); 0 when none.",
	nil, nil)

// feedScrapeTimeout bounds the database query of one scrape: a scrape while the
// database does not answer shows no sample rather than hang.
const feedScrapeTimeout = 2 * time.Second

// RegisterOldestWriteAge exports ctms_feed_oldest_write_age_seconds, read by age
// (one small query of pg_locks) at each scrape, so it is current whether or not
// anyone reads the feeds. A scrape whose query fails has no sample. Registering
// again (a second handler on the same metrics) keeps the first.
func (m *Metrics) RegisterOldestWriteAge(age func(context.Context) (time.Duration, error)) error {
	err := m.Registry.Register(&writeAgeCollector{age: age})
	if errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		return nil
	}
	return err
}

type writeAgeCollector struct {
	age func(context.Context) (time.Duration, error)
}

func (c *writeAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestWriteAge }

func (c *writeAgeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), feedScrapeTimeout)
	defer cancel()
	d, err := c.age(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(oldestWriteAge, prometheus.GaugeValue, max(d.Seconds(), 0))
}
