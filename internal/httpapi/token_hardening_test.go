package httpapi_test

// POST /token against a hostile or busy world: unproven client ids stay out of
// the metrics and the log, the throttle cannot lock a client out, the argon2
// work is bounded, and CTMS_SECRET_KEY can be rotated.

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/testdb"
)

// viaProxy makes the test's loopback connections trusted proxies, so that
// from(addr) chooses the source address of a request.
func viaProxy(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

func from(addr string) reqOpt { return withHeader("X-Forwarded-For", addr) }

// summaries returns the request.summary fields logged for each request id.
func (o *observedAPI) summaries(t *testing.T) map[string]map[string]any {
	t.Helper()
	byRid := map[string]map[string]any{}
	for _, l := range o.logs.lines(t) {
		if l["Type"] == "request.summary" {
			f := l["Fields"].(map[string]any)
			byRid[f["rid"].(string)] = f
		}
	}
	return byRid
}

// TestTokenUnknownClientNotLabelled: an id submitted to /token that no client
// has is counted under client_id "unknown" and never logged; a known id is
// labelled and logged as before.
func TestTokenUnknownClientNotLabelled(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	email := "Typed.By.Mistake-" + uuid.NewString()[:8] + "@example.com"
	long := "id_" + strings.Repeat("z", 50_000)
	o.postToken(url.Values{"client_id": {email}, "client_secret": {"secret_whatever"}}, withHeader("X-Request-Id", "email"))
	o.postToken(nil, basic(long, "secret_whatever"), withHeader("X-Request-Id", "long"))
	o.postToken(nil, basic(o.clientID, "secret_wrong"), withHeader("X-Request-Id", "known"))

	r := o.do("GET", "/metrics", nil, noAuth())
	require.False(t, strings.Contains(string(r.Body), email), "the email address is a label")
	require.False(t, strings.Contains(string(r.Body), "zzzzzzzz"), "the long id is a label")
	fams := o.families(t)
	v, ok := sample(fams, "ctms_api_requests_total", map[string]string{"method": "POST", "path_template": "/token", "client_id": "unknown", "status_code_family": "4xx"})
	require.True(t, ok)
	require.Equal(t, 2.0, v)
	v, _ = sample(fams, "ctms_api_requests_total", map[string]string{"method": "POST", "path_template": "/token", "client_id": o.clientID, "status_code_family": "4xx"})
	require.Equal(t, 1.0, v)

	logs := o.logs.buf.String()
	require.False(t, strings.Contains(logs, email), "the email address is logged")
	require.False(t, strings.Contains(logs, "zzzzzzzz"), "the long id is logged")
	s := o.summaries(t)
	for _, rid := range []string{"email", "long"} {
		require.Equal(t, "No client record", s[rid]["token_fail"], rid)
		require.NotContains(t, s[rid], "client_id", rid)
		require.Nil(t, s[rid]["uid"], rid)
	}
	require.Equal(t, "Bad credentials", s["known"]["token_fail"])
	require.Equal(t, o.clientID, s["known"]["client_id"])
}

// TestTokenThrottleNoLockout: failures are counted per source address (and per
// address and client id), so an attacker who knows a client id cannot keep the
// client from logging in from its own address.
func TestTokenThrottleNoLockout(t *testing.T) {
	t.Parallel()
	const limit = 3
	a := newAPIWith(t, testdb.Pool(t), viaProxy, httpapi.WithTokenThrottle(limit, time.Hour))
	victimID, victimSecret := a.createClient(true)
	for range 2 * limit {
		a.postToken(nil, basic(victimID, "secret_guess"), from("198.51.100.66"))
	}
	requireThrottled(t, a.postToken(nil, basic(victimID, victimSecret), from("198.51.100.66")), 3600)
	// The client, from its own address, logs in; also through a proxy chain
	// where the attacker spoofs the client's address (only the last untrusted hop counts).
	requireToken(t, a.postToken(nil, basic(victimID, victimSecret), from("203.0.113.10")))
	requireToken(t, a.postToken(nil, basic(victimID, victimSecret), from("198.51.100.66, 203.0.113.10")))
	requireThrottled(t, a.postToken(nil, basic(victimID, victimSecret), from("203.0.113.10, 198.51.100.66")), 3600)
	// Without trusted proxies X-Forwarded-For is not believed: the peer is the source.
	b := newAPIOn(t, a.pool, httpapi.WithTokenThrottle(limit, time.Hour))
	for i := range limit {
		b.postToken(nil, basic(victimID, "secret_guess"), from("198.51.100."+string(rune('1'+i))))
	}
	requireThrottled(t, b.postToken(nil, basic(victimID, victimSecret), from("203.0.113.10")), 3600)
}

// TestTokenThrottlePerAddress: one address trying many client ids is blocked
// after CTMS_TOKEN_FAILURES_PER_ADDRESS failures, whatever the ids; other
// addresses are not.
func TestTokenThrottlePerAddress(t *testing.T) {
	t.Parallel()
	a := newAPIWith(t, testdb.Pool(t), func(c *config.Config) { viaProxy(c); c.TokenFailuresPerAddress = 5 })
	for i := range 5 {
		requireDetail(t, a.postToken(nil, basic("id_guess_"+string(rune('a'+i)), "secret_x"), from("2001:db8:1:2::1")),
			http.StatusBadRequest, "Incorrect username or password")
	}
	// The same /64 is the same source.
	requireThrottled(t, a.postToken(nil, basic("id_guess_z", "secret_x"), from("2001:db8:1:2::ffff")), 12)
	requireThrottled(t, a.postToken(nil, basic(a.clientID, a.secret), from("2001:db8:1:2::1")), 12)
	requireToken(t, a.postToken(nil, basic(a.clientID, a.secret), from("2001:db8:1:3::1")))
}

// TestTokenThrottleInFlight: 30 simultaneous bad attempts from one address
// for one client id: only the limit of them are admitted by the throttle (and
// of those only the address's share of the argon2 queue at once).
func TestTokenThrottleInFlight(t *testing.T) {
	t.Parallel()
	const limit, n = 10, 30
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithTokenThrottle(limit, time.Hour), httpapi.WithArgon2Queue(2, n))
	id := a.insertClient(true, testHash("secret_right", 4096, 1)) // a few ms each: the attempts overlap
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := a.send("POST", "/token", "", noAuth(), form(), basic(id, "secret_wrong"))
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.Status
		})
	}
	close(start)
	wg.Wait()
	// The throttle admits limit of them; the argon2 queue has places for all.
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	require.Equal(t, n-limit, count[429], "%v", statuses)
	require.Equal(t, limit, count[400], "%v", statuses)
}

// TestTokenArgon2QueueBounded: when the verification slots and the queue in
// front of them are taken (here: the places one address may hold), a login
// fails at once with 503 and Retry-After instead of waiting (and holding
// memory). The 503 is charged to the throttle like a failure (it used to be
// given back, so a flood of logins filling the queue was never throttled).
func TestTokenArgon2QueueBounded(t *testing.T) {
	t.Parallel()
	const n = 8
	a := newAPIWith(t, testdb.Pool(t), viaProxy, httpapi.WithArgon2Queue(1, 1), httpapi.WithTokenThrottle(10, time.Hour))
	id := a.insertClient(true, testHash("secret_right", 16*1024, 3)) // tens of milliseconds
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := a.send("POST", "/token", "", noAuth(), form(), basic(id, "secret_right"), from("192.0.2.1"))
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status == http.StatusServiceUnavailable {
				if r.Header.Get("Retry-After") != "1" || !strings.Contains(string(r.Body), "Too many logins in progress") {
					t.Errorf("503 without Retry-After or detail: %v %s", r.Header, r.Body)
				}
			}
			statuses[i] = r.Status
		})
	}
	close(start)
	wg.Wait()
	busy := 0
	for _, s := range statuses {
		require.Contains(t, []int{200, 503}, s)
		if s == 503 {
			busy++
		}
	}
	require.Positive(t, busy, "%v", statuses)
	require.Less(t, busy, n, "%v", statuses)
	// Each 503 was charged to the throttle (10 per address and id an hour), the
	// successes were not: a caller flooding the queue spends its own budget.
	for range 10 - busy {
		requireDetail(t, a.postToken(nil, basic(id, "secret_wrong"), from("192.0.2.1")), http.StatusBadRequest, "Incorrect username or password")
	}
	requireThrottled(t, a.postToken(nil, basic(id, "secret_right"), from("192.0.2.1")), 360)
	requireToken(t, a.postToken(nil, basic(id, "secret_right"), from("192.0.2.2")))
}

// TestTokenArgon2WaitDeadline: a login whose request deadline
// (CTMS_DB_REQUEST_TIMEOUT) passes while it waits for a verification slot
// answers 503 with Retry-After, not 500.
func TestTokenArgon2WaitDeadline(t *testing.T) {
	t.Parallel()
	const n = 6
	a := newAPIWith(t, testdb.Pool(t), func(c *config.Config) { c.RequestDBTimeout = 200 * time.Millisecond },
		httpapi.WithArgon2Queue(1, n))
	id := a.insertClient(true, testHash("secret_right", 32*1024, 4)) // longer than the deadline
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := a.send("POST", "/token", "", noAuth(), form(), basic(id, "secret_right"))
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %s", r.Body)
			}
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	require.Contains(t, statuses, 503, "%v", statuses)
	for _, s := range statuses {
		require.Contains(t, []int{200, 503}, s, "%v", statuses)
	}
}

// TestTokenUnknownIDTiming: unknown and disabled client ids take as long to
// fail as a wrong secret (they cost one verification of the same parameters),
// so timing does not reveal which ids exist.
func TestTokenUnknownIDTiming(t *testing.T) {
	t.Parallel()
	const m, passes = 4 * 1024, 3
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithDummyHash(testHash("", m, passes)), httpapi.WithTokenThrottle(0, 0))
	known := a.insertClient(true, testHash("secret_right", m, passes))
	disabled := a.insertClient(false, testHash("secret_right", m, passes))
	fastest := func(id string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			requireDetail(t, a.postToken(nil, basic(id, "secret_wrong")), http.StatusBadRequest, "Incorrect username or password")
			best = min(best, time.Since(start))
		}
		return best
	}
	wrong := fastest(known)
	unknown := fastest("id_nobody_" + uuid.NewString()[:8])
	off := fastest(disabled)
	t.Logf("wrong secret %v, unknown id %v, disabled %v", wrong, unknown, off)
	// Loose bounds: other tests share the CPU. Without the dummy verification
	// an unknown id fails in a database round trip, a hundred times faster.
	require.Greater(t, unknown, wrong/4)
	require.Greater(t, off, wrong/4)
}

// TestTokenUnusableHash: a stored hash whose cost parameters are out of bounds
// is refused as bad credentials at once (never computed: t=1000 at 64 MiB
// would take minutes) and logged as a data problem, without the secret.
func TestTokenUnusableHash(t *testing.T) {
	t.Parallel()
	o := newObservedAPI(t, nil)
	id := o.insertClient(true, "$argon2id$v=19$m=65536,t=1000,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY")
	secret := "secret_" + strings.Repeat("q", 43)
	start := time.Now()
	requireDetail(t, o.postToken(nil, basic(id, secret)), http.StatusBadRequest, "Incorrect username or password")
	require.Less(t, time.Since(start), 2*time.Second)
	found := false
	for _, l := range o.logs.lines(t) {
		f, _ := l["Fields"].(map[string]any)
		if l["Type"] == "ctms.auth" && f["client_id"] == id {
			found = true
			require.Equal(t, float64(3), l["Severity"])
			require.Contains(t, f["problem"], "time cost too large")
		}
	}
	require.True(t, found, "the unusable hash is logged")
	require.NotContains(t, o.logs.buf.String(), secret)
}

// TestSecretKeyRotation: with the old key as CTMS_SECRET_KEY_PREVIOUS, tokens
// it signed keep working until they expire, unless they were made to live
// longer than CTMS_TOKEN_EXPIRATION; new tokens are signed with the new key
// only; once the previous key is removed, old tokens are refused.
func TestSecretKeyRotation(t *testing.T) {
	t.Parallel()
	const newKey = "the-new-secret-key-that-is-long-enough-for-hs256"
	pool := testdb.Pool(t)
	before := newAPIOn(t, pool)
	oldToken := requireToken(t, before.postToken(nil, basic(before.clientID, before.secret)))
	expired, err := auth.MintToken(testSecretKey, before.clientID, time.Hour, time.Now().Add(-2*time.Hour))
	require.NoError(t, err)

	during := newAPIWith(t, pool, func(c *config.Config) { c.SecretKey, c.SecretKeyPrevious = newKey, testSecretKey })
	get := func(a *apiTest, token string) *response {
		return a.do("GET", "/ctms/"+uuid.NewString(), nil, withHeader("Authorization", "Bearer "+token))
	}
	requireDetail(t, get(during, oldToken), http.StatusNotFound, "Unknown email_id")
	requireDetail(t, get(during, expired), http.StatusUnauthorized, "Could not validate credentials")
	newToken := requireToken(t, during.postToken(nil, basic(before.clientID, before.secret)))
	_, err = auth.ParseToken(newKey, newToken, time.Now())
	require.NoError(t, err, "signed with the new key")
	_, err = auth.ParseToken(testSecretKey, newToken, time.Now())
	require.ErrorIs(t, err, auth.ErrBadToken, "never with the previous one")
	requireDetail(t, get(during, newToken), http.StatusNotFound, "Unknown email_id")
	other, err := auth.MintToken("some-other-key-some-other-key-some-other", before.clientID, time.Hour, time.Now())
	require.NoError(t, err)
	requireDetail(t, get(during, other), http.StatusUnauthorized, "Could not validate credentials")
	// The previous key verifies no token living longer than CTMS_TOKEN_EXPIRATION
	// (and a minute of clock skew): whoever kept the old key cannot mint
	// long-lived tokens with it.
	for _, tc := range []struct {
		ttl time.Duration
		ok  bool
	}{
		{time.Until(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)), false},
		{2 * time.Hour, false},
		{time.Hour + 2*time.Minute, false},
		{time.Hour + 30*time.Second, true}, // minted by an instance whose clock is ahead
	} {
		token, err := auth.MintToken(testSecretKey, before.clientID, tc.ttl, time.Now())
		require.NoError(t, err)
		if tc.ok {
			requireDetail(t, get(during, token), http.StatusNotFound, "Unknown email_id")
		} else {
			requireDetail(t, get(during, token), http.StatusUnauthorized, "Could not validate credentials")
		}
	}

	after := newAPIWith(t, pool, func(c *config.Config) { c.SecretKey = newKey })
	requireDetail(t, get(after, oldToken), http.StatusUnauthorized, "Could not validate credentials")
	requireDetail(t, get(after, newToken), http.StatusNotFound, "Unknown email_id")
}
