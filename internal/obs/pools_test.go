package obs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/testdb"
)

// With CTMS_DB_READ_URL, `ctms serve` registers two pools: both register (a collector
// per pool must not collide with the other's) and each series tells its pool by the
// label pool, with that pool's own figures.
func TestPoolMetricsOfTwoPools(t *testing.T) {
	primary := testdb.Pool(t)
	cfg, err := pgxpool.ParseConfig(testdb.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = primary.Stat().MaxConns() + 3 // tells the two pools' series apart
	read, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(read.Close)

	m := obs.NewMetrics()
	require.NoError(t, m.RegisterPool("primary", primary))
	require.NoError(t, m.RegisterPool("read", read))
	require.Error(t, m.RegisterPool("read", read), "the same pool name twice")

	fams, err := m.Registry.Gather()
	require.NoError(t, err)
	maxConns := map[string]float64{}
	families := 0
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "ctms_db_pool_") {
			continue
		}
		families++
		pools := map[string]bool{}
		for _, s := range f.Metric {
			require.Len(t, s.Label, 1, f.GetName())
			require.Equal(t, "pool", s.Label[0].GetName())
			pools[s.Label[0].GetValue()] = true
			if f.GetName() == "ctms_db_pool_max_connections" {
				maxConns[s.Label[0].GetValue()] = s.Gauge.GetValue()
			}
		}
		require.Equal(t, map[string]bool{"primary": true, "read": true}, pools, f.GetName())
	}
	require.Equal(t, 11, families)
	require.Equal(t, map[string]float64{
		"primary": float64(primary.Stat().MaxConns()),
		"read":    float64(read.Stat().MaxConns()),
	}, maxConns)
}
