package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTokenThrottleBounded: random ids cannot grow the throttle past its bound,
// the least recently failing id is evicted first, expired entries are swept,
// and long ids are stored as fixed-size digests.
func TestTokenThrottleBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newTokenThrottle()
	th.limit, th.window, th.maxIDs = 2, time.Minute, 100
	th.now = func() time.Time { return now }

	th.failed("victim")
	th.failed("victim")
	if err := th.admit("victim"); err == nil {
		t.Fatal("victim not throttled after 2 failures")
	} else if e := err.(*Error); e.Status != http.StatusTooManyRequests || e.Header.Get("Retry-After") != "60" {
		t.Fatalf("got %d, Retry-After %q", e.Status, e.Header.Get("Retry-After"))
	}
	for i := range 10 * th.maxIDs {
		th.failed(fmt.Sprintf("random-%d-%s", i, strings.Repeat("x", 1000)))
		if len(th.ids) > th.maxIDs || th.lru.Len() != len(th.ids) {
			t.Fatalf("after %d ids: map %d, list %d (bound %d)", i+1, len(th.ids), th.lru.Len(), th.maxIDs)
		}
	}
	if th.admit("victim") != nil {
		t.Fatal("the least recently failing id was not evicted")
	}

	// Entries whose failures all left the window are dropped before live ones.
	th = newTokenThrottle()
	th.limit, th.window, th.maxIDs = 2, time.Minute, 3
	th.now = func() time.Time { return now }
	th.failed("old")
	now = now.Add(30 * time.Second)
	th.failed("live")
	th.failed("live")
	now = now.Add(31 * time.Second) // "old" expired, "live" still blocked
	th.failed("a")
	th.failed("b")
	if _, ok := th.ids[keyOf("old")]; ok {
		t.Fatal("expired entry kept")
	}
	if err := th.admit("live"); err == nil {
		t.Fatal("live entry evicted before an expired one")
	} else if got := err.(*Error).Header.Get("Retry-After"); got != "29" {
		t.Fatalf("Retry-After %q, want 29", got)
	}
	now = now.Add(30 * time.Second)
	if th.admit("live") != nil {
		t.Fatal("still blocked after the window")
	}
	if _, ok := th.ids[keyOf("live")]; ok {
		t.Fatal("expired entry kept after admit")
	}

	// A limit below 1 turns the throttle off.
	th.limit = 0
	for range 5 {
		th.failed("x")
	}
	if th.admit("x") != nil {
		t.Fatal("disabled throttle blocked")
	}
}
