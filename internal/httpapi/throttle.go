package httpapi

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/obs"
)

// Defaults of the POST /token throttle: a source address may fail
// tokenFailureLimit times for one client id, and
// config.DefaultTokenFailuresPerAddress times whatever the ids, per
// tokenFailureWindow.
const (
	tokenFailureLimit    = 10
	tokenFailureWindow   = time.Minute
	tokenThrottleMaxKeys = 50_000
)

// WithTokenThrottle sets how many failed POST /token attempts one source
// address may make for one client id within window (default 10 per minute);
// the per-address limit (CTMS_TOKEN_FAILURES_PER_ADDRESS) uses the same window.
// A limit below 1 turns the throttle off.
func WithTokenThrottle(limit int, window time.Duration) Option {
	return func(s *server) { s.throttle.pairLimit, s.throttle.window = limit, window }
}

// tokenThrottle limits failed logins per (source address, client id) and per
// source address (docs/reliability.md): never per
// client id alone, which anyone could use to lock a client out, since client
// ids are no secret. A client presenting its secret from another address logs in.
//
// Each key is a bucket of `limit` failures refilled at limit per window (a
// generic cell-rate algorithm: one timestamp per key). An attempt is charged
// when it is admitted, before its secret is checked, so attempts in flight
// count: of 30 simultaneous bad attempts only `limit` get through. A success
// (or a server-side failure) gives its charge back; a 503 for want of a place
// in the argon2 queue keeps it (TokenFailure.counts). A key whose bucket is
// empty is blocked: 429 with Retry-After until one failure has drained.
//
// Memory is bounded: keys are SHA-256 digests (a megabyte-long id costs 32
// bytes), at most maxKeys of them; drained keys go first, then the least
// recently charged of those not blocked. A blocked key is never evicted; when
// every key is blocked a new key is not recorded (its attempt is still bounded
// by the argon2 queue, auth.Verifier) — with production hashes the queue lets
// far fewer failures through per window than maxKeys.
type tokenThrottle struct {
	pairLimit int // per (address, client id); below 1: throttle off
	addrLimit int // per address
	window    time.Duration
	maxKeys   int
	now       func() time.Time

	mu   sync.Mutex
	keys map[[sha256.Size]byte]*list.Element // of *bucket
	lru  list.List                           // front: most recently charged

	forwardingNoticed atomic.Int64 // Unix ns of the last untrusted X-Forwarded-For warning
}

type bucket struct {
	key      [sha256.Size]byte
	interval time.Duration // window / limit: the time one failure takes to drain
	tat      time.Time     // when the bucket is empty again ("theoretical arrival time")
}

func newTokenThrottle() *tokenThrottle {
	return &tokenThrottle{pairLimit: tokenFailureLimit, addrLimit: config.DefaultTokenFailuresPerAddress,
		window: tokenFailureWindow, maxKeys: tokenThrottleMaxKeys, now: time.Now}
}

// charge is what admit took; done gives it back unless the attempt failed.
type charge []*list.Element

// admit charges one failure to the address and to the (address, client id)
// pair, or returns a 429 *Error (charging nothing) when either is used up.
func (t *tokenThrottle) admit(addr, clientID string) (charge, error) {
	if t.pairLimit < 1 {
		return nil, nil
	}
	now := t.now()
	keys := [...]struct {
		key   [sha256.Size]byte
		limit int
	}{
		{sha256.Sum256([]byte("address\x00" + addr)), t.addrLimit},
		{sha256.Sum256([]byte("pair\x00" + addr + "\x00" + clientID)), t.pairLimit},
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if el, ok := t.keys[k.key]; ok {
			b := el.Value.(*bucket)
			wait = max(wait, later(b.tat, now).Add(b.interval).Sub(now)-t.window)
		}
	}
	if wait > 0 {
		secs := max(1, int64((wait+time.Second-1)/time.Second)) // rounded up
		return nil, &Error{Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("Too many failed login attempts, try again in %d seconds", secs),
			Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}}
	}
	var c charge
	for _, k := range keys {
		el, ok := t.keys[k.key]
		if !ok {
			if el = t.insert(k.key, max(t.window/time.Duration(max(k.limit, 1)), 1), now); el == nil {
				continue // full of blocked keys: not recorded (see tokenThrottle)
			}
		}
		b := el.Value.(*bucket)
		b.tat = later(b.tat, now).Add(b.interval)
		t.lru.MoveToFront(el)
		c = append(c, el)
	}
	return c, nil
}

// done ends an admitted attempt: a refused login keeps its charge; a success,
// or a failure that was not the client's (database down, busy), gives it back.
func (t *tokenThrottle) done(c charge, failed bool) {
	if failed || len(c) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, el := range c {
		b := el.Value.(*bucket)
		if cur, ok := t.keys[b.key]; ok && cur == el { // not evicted meanwhile
			b.tat = b.tat.Add(-b.interval)
		}
	}
}

// insert adds an empty bucket for key, making room first; nil when every key
// is blocked.
func (t *tokenThrottle) insert(key [sha256.Size]byte, interval time.Duration, now time.Time) *list.Element {
	if t.keys == nil {
		t.keys = map[[sha256.Size]byte]*list.Element{}
	}
	if len(t.keys) >= t.maxKeys {
		var victim *list.Element // least recently charged key that is not blocked
		for el := t.lru.Back(); el != nil; {
			prev := el.Prev()
			b := el.Value.(*bucket)
			switch {
			case !b.tat.After(now): // drained: forget it
				t.remove(el)
			case victim == nil && !t.blocked(b, now):
				victim = el
			}
			el = prev
		}
		if len(t.keys) >= t.maxKeys {
			if victim == nil {
				return nil
			}
			t.remove(victim)
		}
	}
	el := t.lru.PushFront(&bucket{key: key, interval: interval, tat: now})
	t.keys[key] = el
	return el
}

// blocked reports whether one more charge would overflow the bucket.
func (t *tokenThrottle) blocked(b *bucket, now time.Time) bool {
	return later(b.tat, now).Add(b.interval).Sub(now) > t.window
}

func (t *tokenThrottle) remove(el *list.Element) {
	delete(t.keys, el.Value.(*bucket).key)
	t.lru.Remove(el)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sourceAddress is the address a POST /token is throttled by: the connection's
// peer, unless the peer is a trusted proxy (CTMS_TRUSTED_PROXIES). Then
// X-Forwarded-For is read from the right, each trusted hop skipped: the first
// untrusted address is the source (the entries left of it are the client's
// own words). An IPv6 source counts as its /64, which one host usually owns
// whole. Returned as text: a map key, never logged.
func sourceAddress(r *http.Request, trusted []netip.Prefix) string {
	addr, ok := parseHop(r.RemoteAddr)
	if !ok {
		return "peer:" + r.RemoteAddr // not an IP connection (tests, unix sockets)
	}
	if isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := parseHop(hops[i])
			if !ok {
				break // garbage from a trusted hop: the last good address stands
			}
			addr = hop
			if !isTrusted(hop, trusted) {
				break
			}
		}
	}
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// forwardingWarningEvery is how often at most noticeForwarding warns.
const forwardingWarningEvery = time.Hour

// noticeForwarding warns, at most once an hour, when a POST /token carries
// X-Forwarded-For from a peer that is not a trusted proxy: the header is
// ignored, so if a load balancer added it, every client behind it shares one
// throttle budget (CTMS_TRUSTED_PROXIES is missing the balancer). The warning
// names the peer only, never the header's contents (the client's words).
func (t *tokenThrottle) noticeForwarding(r *http.Request, trusted []netip.Prefix, log *slog.Logger) {
	if len(r.Header.Values("X-Forwarded-For")) == 0 {
		return
	}
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || isTrusted(peer, trusted) {
		return
	}
	now, last := time.Now().UnixNano(), t.forwardingNoticed.Load()
	if last != 0 && now-last < int64(forwardingWarningEvery) || !t.forwardingNoticed.CompareAndSwap(last, now) {
		return
	}
	log.LogAttrs(r.Context(), slog.LevelWarn,
		"X-Forwarded-For from a peer that is not a trusted proxy: ignored; if a load balancer adds it, list the balancer's addresses (only) in CTMS_TRUSTED_PROXIES",
		slog.String(obs.LoggerKey, "ctms.auth"), slog.String("peer", peer.String()))
}

// parseHop reads "1.2.3.4", "1.2.3.4:5", "2001:db8::1" or "[2001:db8::1]:5".
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return a.Unmap().WithZone(""), err == nil
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
