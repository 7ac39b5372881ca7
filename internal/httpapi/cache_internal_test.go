package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/testdb"
)

// counter is a read that counts its calls and answers their number (or err).
type counter struct {
	n   int
	err error
}

func (c *counter) read() (int, error) {
	c.n++
	return c.n, c.err
}

// Without a live access feed nothing is cached: every get reads.
func TestVersionedCacheWithoutFeed(t *testing.T) {
	var c versionedCache[string, int]
	var r counter
	for want := 1; want <= 3; want++ {
		got, err := c.get(nil, "k", r.read)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// A value is used while the feed stays at the version it was read under; a change
// notified on the access channel, even one made while the value was read, makes the
// next get read again. A failed read is never cached; getOrLast answers it with the
// last value read.
func TestVersionedCacheFollowsTheFeed(t *testing.T) {
	pool := testdb.Pool(t)
	feed := accessfeed.Start(&pool.Config().ConnConfig.Config, nil)
	t.Cleanup(feed.Close)
	require.Eventually(t, func() bool { return feed.Version().Live() }, 10*time.Second, 5*time.Millisecond)
	notify := func() {
		t.Helper()
		before := feed.Version()
		_, err := pool.Exec(context.Background(), "SELECT pg_notify($1, 'test')", accessfeed.Channel)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return feed.Version() != before }, 10*time.Second, time.Millisecond)
	}

	var c versionedCache[string, int]
	var r counter
	get := func(want int) {
		t.Helper()
		got, err := c.get(feed, "k", r.read)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	get(1)
	get(1)
	notify()
	get(2)
	get(2)

	// A change during the read: the value is returned but not used again.
	_, err := c.get(feed, "raced", func() (int, error) { notify(); return 10, nil })
	require.NoError(t, err)
	got, err := c.get(feed, "raced", func() (int, error) { return 11, nil })
	require.NoError(t, err)
	require.Equal(t, 11, got)

	notify()
	r.err = errors.New("database down")
	_, err = c.get(feed, "k", r.read)
	require.ErrorIs(t, err, r.err)
	got, err = c.getOrLast(feed, "k", r.read)
	require.NoError(t, err, "getOrLast answers a failed read with the last value")
	require.Equal(t, 2, got)
	_, err = c.getOrLast(feed, "never read", r.read)
	require.ErrorIs(t, err, r.err, "no last value to answer with")
}
