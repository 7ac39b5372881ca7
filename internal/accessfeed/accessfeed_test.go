package accessfeed_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/accessfeed"
)

// A feed that cannot connect is never live (caches read through), and Close still returns
// at once, between attempts or during one.
func TestFeedWithoutDatabase(t *testing.T) {
	t.Parallel()
	require.False(t, (*accessfeed.Feed)(nil).Version().Live())
	cfg, err := pgconn.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	f := accessfeed.Start(cfg, nil)
	time.Sleep(300 * time.Millisecond)
	require.False(t, f.Version().Live())
	require.Zero(t, f.BackendPID())
	start := time.Now()
	f.Close()
	require.Less(t, time.Since(start), time.Second)
}
