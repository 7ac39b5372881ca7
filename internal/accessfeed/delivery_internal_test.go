package accessfeed

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
)

// A connection that accepts LISTEN but delivers nothing (a PgBouncer in transaction
// pooling mode; played here by listening on another channel) never makes the feed live,
// so the caches read through instead of keeping revoked access. A real one goes live.
func TestFeedLiveOnlyWhenNotificationsArrive(t *testing.T) {
	t.Parallel()
	cfg, err := pgconn.ParseConfig(testdb.NewDatabase(t))
	require.NoError(t, err)

	deaf := Start(cfg, nil, func(f *Feed) { f.listenTo = "ctms_access_elsewhere" })
	t.Cleanup(deaf.Close)
	real := Start(cfg, nil)
	t.Cleanup(real.Close)

	require.Eventually(t, func() bool { return real.Version().Live() }, 5*time.Second, 20*time.Millisecond,
		"a listener that receives its probe goes live")
	for deadline := time.Now().Add(pingTimeout + time.Second); time.Now().Before(deadline); {
		require.False(t, deaf.Version().Live(), "a listener that receives nothing must not go live")
		time.Sleep(20 * time.Millisecond)
	}
	v := real.Version()
	time.Sleep(pingEvery + pingTimeout) // the real one's probes (and the deaf one's) are no change
	require.Equal(t, v, real.Version(), "a probe must not drop the caches")
}
