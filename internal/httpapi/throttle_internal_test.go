package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newTestThrottle(pairLimit, addrLimit, maxKeys int, now *time.Time) *tokenThrottle {
	th := newTokenThrottle()
	th.pairLimit, th.addrLimit, th.window, th.maxKeys = pairLimit, addrLimit, time.Minute, maxKeys
	th.now = func() time.Time { return *now }
	return th
}

// fail is one admitted attempt that fails; it returns admit's error.
func (t *tokenThrottle) fail(addr, id string) error {
	c, err := t.admit(addr, id)
	if err == nil {
		t.done(c, true)
	}
	return err
}

func retryAfter(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	e := err.(*Error)
	require.Equal(t, http.StatusTooManyRequests, e.Status)
	return e.Header.Get("Retry-After")
}

// TestTokenThrottleBuckets: limit failures per (address, id) and per address;
// each failure drains in window/limit; successes give their charge back;
// attempts in flight are charged.
func TestTokenThrottleBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newTestThrottle(3, 5, 100, &now)
	for range 3 {
		require.NoError(t, th.fail("a", "victim"))
	}
	require.Equal(t, "20", retryAfter(t, th.fail("a", "victim")), "one failure drains in 60s/3")
	require.NoError(t, th.fail("b", "victim"), "another address is not blocked")
	require.NoError(t, th.fail("a", "other"))
	require.NoError(t, th.fail("a", "third"))
	require.Equal(t, "12", retryAfter(t, th.fail("a", "fourth")), "the address used its 5 (60s/5 each)")
	now = now.Add(12 * time.Second)
	require.NoError(t, th.fail("a", "fourth"))

	// Successes (and server-side failures) give their charge back.
	for range 10 {
		c, err := th.admit("c", "good")
		require.NoError(t, err)
		th.done(c, false)
	}
	require.NoError(t, th.fail("c", "good"))

	// In flight counts: only 3 of 10 simultaneous attempts are admitted.
	var admitted []charge
	for range 10 {
		if c, err := th.admit("d", "busy"); err == nil {
			admitted = append(admitted, c)
		}
	}
	require.Len(t, admitted, 3)
	for _, c := range admitted {
		th.done(c, false)
	}
	require.NoError(t, th.fail("d", "busy"), "given back when they succeed")

	// A limit below 1 turns the throttle off.
	th.pairLimit = 0
	for range 10 {
		require.NoError(t, th.fail("a", "victim"))
	}
}

// TestTokenThrottleBounded: random ids cannot grow the throttle past its bound;
// drained keys go first, then the least recent not blocked, and a blocked key
// is never evicted while it is blocked.
func TestTokenThrottleBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newTestThrottle(2, 1000, 100, &now)
	require.NoError(t, th.fail("a", "victim"))
	require.NoError(t, th.fail("a", "victim"))
	require.Error(t, th.fail("a", "victim"))
	for i := range 10 * th.maxKeys {
		_ = th.fail(fmt.Sprintf("addr-%d", i%7), fmt.Sprintf("random-%d-%s", i, strings.Repeat("x", 1000)))
		require.LessOrEqual(t, len(th.keys), th.maxKeys)
		require.Equal(t, th.lru.Len(), len(th.keys))
	}
	require.Error(t, th.fail("a", "victim"), "a blocked key is never evicted")

	// Full of blocked keys: a new key is not recorded (and not refused).
	now = now.Add(time.Hour)
	th = newTestThrottle(1, 1000, 4, &now)
	for _, id := range []string{"w", "x", "y"} {
		require.NoError(t, th.fail("a", id))
	}
	require.Len(t, th.keys, 4) // the address and three pairs, all blocked but the address
	require.NoError(t, th.fail("a", "z"), "the address bucket (not blocked) made room")
	require.Error(t, th.fail("a", "w"), "still blocked")
	require.NoError(t, th.fail("a", "new"), "not recorded: every key is blocked")
	require.LessOrEqual(t, len(th.keys), 4)

	// Drained keys go first.
	now = now.Add(2 * time.Minute)
	require.NoError(t, th.fail("b", "fresh"))
	require.Len(t, th.keys, 2)
}

// TestSourceAddress: the peer, unless it is a trusted proxy; then the first
// untrusted hop of X-Forwarded-For from the right. IPv6 counts by /64.
func TestSourceAddress(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.7:5000", "", "203.0.113.7"},
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7"}, // an untrusted peer's header is ignored
		{"10.0.0.2:5000", "", "10.0.0.2"},
		{"10.0.0.2:5000", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.2:5000", "1.1.1.1, 198.51.100.1, 10.0.0.9", "198.51.100.1"}, // the spoofed 1.1.1.1 is not believed
		{"10.0.0.2:5000", "10.1.1.1, 10.0.0.9", "10.1.1.1"},                  // all trusted: the leftmost
		{"10.0.0.2:5000", "198.51.100.1, garbage", "10.0.0.2"},
		{"10.0.0.2:5000", "[2001:db8:1:2:3::4]:443", "2001:db8:1:2::/64"},
		{"10.0.0.2:5000", "::ffff:198.51.100.1", "198.51.100.1"},
		{"[2001:db8::1]:5000", "", "2001:db8::/64"},
		{"[fd00::1]:5000", "2001:db8:aa:bb::1", "2001:db8:aa:bb::/64"},
		{"pipe", "198.51.100.1", "peer:pipe"},
	} {
		r := httptest.NewRequest("POST", "/token", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		require.Equal(t, tc.want, sourceAddress(r, trusted), "%s %s", tc.peer, tc.xff)
	}
	r := httptest.NewRequest("POST", "/token", nil)
	r.RemoteAddr = "10.0.0.2:1"
	r.Header.Add("X-Forwarded-For", "1.1.1.1, 198.51.100.1")
	r.Header.Add("X-Forwarded-For", "10.0.0.3")
	require.Equal(t, "198.51.100.1", sourceAddress(r, trusted), "several headers are one list")
}
