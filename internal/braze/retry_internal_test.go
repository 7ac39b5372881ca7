package braze

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestResetWait(t *testing.T) {
	t.Parallel()
	c := &Client{retry: RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxResetWait: 5 * time.Second}.withDefaults()}
	header := func(epoch int64) http.Header {
		h := http.Header{}
		h.Set("X-RateLimit-Reset", strconv.FormatInt(epoch, 10))
		return h
	}
	inBackoff := func(d time.Duration) {
		t.Helper()
		require.GreaterOrEqual(t, d, 50*time.Millisecond)
		require.LessOrEqual(t, d, 100*time.Millisecond)
	}
	now := time.Now()
	inBackoff(c.resetWait(http.Header{}, 1))                      // no header
	inBackoff(c.resetWait(header(now.Add(-time.Hour).Unix()), 1)) // a past reset is no reason to hammer

	d := c.resetWait(header(now.Add(3*time.Second).Unix()), 1)
	require.Greater(t, d, time.Second, "until the reset")
	require.LessOrEqual(t, d, 3*time.Second+50*time.Millisecond)
	require.Equal(t, 5*time.Second, c.resetWait(header(now.Add(time.Hour).Unix()), 1), "at most MaxResetWait")
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	c := &Client{retry: RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()}
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(n)
			require.GreaterOrEqual(t, d, full/2, n)
			require.LessOrEqual(t, d, full, n)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "jitter: attempt %d", n)
	}
}
