package obs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/obs"
)

// ctms_feed_oldest_write_age_seconds is read at each scrape; a failed read shows no
// sample (not a stale or made-up one); registering twice keeps the first.
func TestOldestWriteAgeAtScrape(t *testing.T) {
	m := obs.NewMetrics()
	age, fail := 3*time.Second, false
	require.NoError(t, m.RegisterOldestWriteAge(func(context.Context) (time.Duration, error) {
		if fail {
			return 0, errors.New("database down")
		}
		return age, nil
	}))
	require.NoError(t, m.RegisterOldestWriteAge(func(context.Context) (time.Duration, error) { return time.Hour, nil }))
	value := func() (float64, bool) {
		fams, err := m.Registry.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() == "ctms_feed_oldest_write_age_seconds" {
				return f.Metric[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	v, ok := value()
	require.True(t, ok)
	require.Equal(t, 3.0, v)
	age = 0
	v, _ = value()
	require.Zero(t, v)
	fail = true
	_, ok = value()
	require.False(t, ok, "no sample when the database does not answer")
}
