package obs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// ctms_db_pool_* follow pgxpool.Stat at scrape time.
func TestPoolMetrics(t *testing.T) {
	pool := testdb.Pool(t)
	m := obs.NewMetrics()
	require.NoError(t, m.RegisterPool("primary", pool))
	conn, err := pool.Acquire(context.Background())
	require.NoError(t, err)
	got := func(name string) float64 {
		fams, err := m.Registry.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() == name {
				require.Equal(t, "pool", f.Metric[0].Label[0].GetName())
				require.Equal(t, "primary", f.Metric[0].Label[0].GetValue())
				if f.Metric[0].Counter != nil {
					return f.Metric[0].Counter.GetValue()
				}
				return f.Metric[0].Gauge.GetValue()
			}
		}
		t.Fatalf("%s missing", name)
		return 0
	}
	require.GreaterOrEqual(t, got("ctms_db_pool_acquired_connections"), 1.0)
	require.Equal(t, float64(pool.Stat().MaxConns()), got("ctms_db_pool_max_connections"))
	acquires := got("ctms_db_pool_acquires_total")
	require.GreaterOrEqual(t, acquires, 1.0)
	conn.Release()
	conn, err = pool.Acquire(context.Background())
	require.NoError(t, err)
	conn.Release()
	require.Greater(t, got("ctms_db_pool_acquires_total"), acquires)
	for _, name := range []string{"ctms_db_pool_idle_connections", "ctms_db_pool_total_connections", "ctms_db_pool_acquire_wait_seconds_total",
		"ctms_db_pool_canceled_acquires_total", "ctms_db_pool_empty_acquires_total", "ctms_db_pool_empty_acquire_wait_seconds_total",
		"ctms_db_pool_constructing_connections", "ctms_db_pool_new_connections_total"} {
		got(name)
	}
}
