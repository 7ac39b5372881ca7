package httpapi

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the POST /token throttle: a client id that failed to log in
// tokenFailureLimit times within tokenFailureWindow is refused (429) until the
// oldest of those failures leaves the window.
const (
	tokenFailureLimit   = 10
	tokenFailureWindow  = time.Minute
	tokenThrottleMaxIDs = 10_000
)

// WithTokenThrottle sets how many failed POST /token attempts a client id may
// make within window before further attempts are answered 429 (default 10 per
// minute). A limit below 1 turns the throttle off.
func WithTokenThrottle(limit int, window time.Duration) Option {
	return func(s *server) { s.throttle.limit, s.throttle.window = limit, window }
}

// tokenThrottle counts failed logins per client id in a sliding window.
//
// It is keyed by the client id the request names, so failures against one id
// never block another; successful logins do not count. Unknown ids are counted
// like known ones (a 429 must not reveal whether a client exists). Memory is
// bounded: ids are stored as SHA-256 digests (a megabyte-long id costs 32
// bytes), at most tokenThrottleMaxIDs of them, the least recently failing
// evicted first, and entries whose failures all left the window are dropped.
type tokenThrottle struct {
	limit  int
	window time.Duration
	maxIDs int
	now    func() time.Time

	mu  sync.Mutex
	ids map[[sha256.Size]byte]*list.Element // of *throttled
	lru list.List                           // front: most recent failure
}

type throttled struct {
	key   [sha256.Size]byte
	fails []time.Time // ascending, at most limit, all within the window
}

func newTokenThrottle() *tokenThrottle {
	return &tokenThrottle{limit: tokenFailureLimit, window: tokenFailureWindow, maxIDs: tokenThrottleMaxIDs, now: time.Now}
}

// admit returns a 429 *Error when clientID has used up its failures, else nil.
func (t *tokenThrottle) admit(clientID string) error {
	if t.limit < 1 {
		return nil
	}
	key := keyOf(clientID)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.ids[key]
	if !ok {
		return nil
	}
	e := el.Value.(*throttled)
	t.prune(e, now)
	if len(e.fails) == 0 {
		t.remove(el)
		return nil
	}
	if len(e.fails) < t.limit {
		return nil
	}
	wait := e.fails[0].Add(t.window).Sub(now)
	secs := max(1, int64((wait+time.Second-1)/time.Second)) // rounded up
	return &Error{Status: http.StatusTooManyRequests,
		Detail: fmt.Sprintf("Too many failed login attempts for this client, try again in %d seconds", secs),
		Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}}
}

// failed records a failed login of clientID.
func (t *tokenThrottle) failed(clientID string) {
	if t.limit < 1 {
		return
	}
	key := keyOf(clientID)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[[sha256.Size]byte]*list.Element{}
	}
	el, ok := t.ids[key]
	if !ok {
		t.evict(now)
		el = t.lru.PushFront(&throttled{key: key})
		t.ids[key] = el
	}
	e := el.Value.(*throttled)
	t.prune(e, now)
	e.fails = append(e.fails, now)
	if n := len(e.fails); n > t.limit { // only the newest limit failures matter
		e.fails = append(e.fails[:0], e.fails[n-t.limit:]...)
	}
	t.lru.MoveToFront(el)
}

// done records the outcome of a POST /token attempt that admit let through:
// a refused login (info.TokenFail set) counts, success and server errors do not.
func (t *tokenThrottle) done(clientID string, info *AuthInfo) {
	if info.TokenFail != "" {
		t.failed(clientID)
	}
}

// prune drops the failures that left the window.
func (t *tokenThrottle) prune(e *throttled, now time.Time) {
	cutoff := now.Add(-t.window)
	i := 0
	for i < len(e.fails) && !e.fails[i].After(cutoff) {
		i++
	}
	if i > 0 {
		e.fails = append(e.fails[:0], e.fails[i:]...)
	}
}

// evict makes room for one more id: expired entries go first (the least
// recently failing end of the list holds the oldest), then the least recent.
func (t *tokenThrottle) evict(now time.Time) {
	for el := t.lru.Back(); el != nil; el = t.lru.Back() {
		e := el.Value.(*throttled)
		t.prune(e, now)
		if len(e.fails) > 0 && len(t.ids) < t.maxIDs {
			return
		}
		t.remove(el)
	}
}

// keyOf is the map key of a client id: its digest, so long ids cost no more memory.
func keyOf(clientID string) [sha256.Size]byte { return sha256.Sum256([]byte(clientID)) }

func (t *tokenThrottle) remove(el *list.Element) {
	delete(t.ids, el.Value.(*throttled).key)
	t.lru.Remove(el)
}
