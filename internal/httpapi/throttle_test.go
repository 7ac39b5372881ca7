package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/testdb"
)

// requireThrottled requires a 429 with a detail and a Retry-After of 1 to limit seconds.
func requireThrottled(t *testing.T, r *response, limit int) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.Contains(t, r.Object(t)["detail"], "Too many failed login attempts, try again in")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After: %q", r.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, secs, 1)
	require.LessOrEqual(t, secs, limit)
}

// TestTokenThrottle: failed logins of one client id get it 429 once over the limit,
// whatever it sends then (the right secret included); another client still logs in;
// successful logins do not count; the block ends when the window has passed.
func TestTokenThrottle(t *testing.T) {
	t.Parallel()
	// Each failure drains in 10 s: room for a loaded machine (with -race under stress-ng,
	// one argon2 verification took about 1 s, and 2 s per failure was once too short).
	const limit, window = 3, 30 * time.Second
	const drain = int(window / time.Second / limit)
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithTokenThrottle(limit, window))
	victimID, victimSecret := a.createClient(true)

	// Successful logins never count.
	for range 2 * limit {
		requireToken(t, a.postToken(nil, basic(victimID, victimSecret)))
	}
	start := time.Now()
	for range limit {
		requireDetail(t, a.postToken(nil, basic(victimID, "secret_wrong")), http.StatusBadRequest, "Incorrect username or password")
	}
	requireThrottled(t, a.postToken(nil, basic(victimID, "secret_wrong")), drain)
	requireThrottled(t, a.postToken(url.Values{"client_id": {victimID}, "client_secret": {victimSecret}}), drain)

	// Another client is not affected, nor is a token already issued.
	requireToken(t, a.postToken(nil, basic(a.clientID, a.secret)))
	require.Equal(t, http.StatusNotFound, a.do("GET", "/ctms/"+uuid.NewString(), nil).Status)

	// Unknown ids are throttled alike: a 429 does not tell whether a client exists.
	unknown := "id_unknown_" + uuid.NewString()
	for range limit {
		requireDetail(t, a.postToken(nil, basic(unknown, "secret_wrong")), http.StatusBadRequest, "Incorrect username or password")
	}
	requireThrottled(t, a.postToken(nil, basic(unknown, "secret_wrong")), drain)

	// The block lasts until one failure has drained (window/limit).
	time.Sleep(time.Until(start.Add(window + 100*time.Millisecond)))
	requireToken(t, a.postToken(nil, basic(victimID, victimSecret)))
}

// TestTokenThrottleConcurrent: many clients failing at once block only themselves.
func TestTokenThrottleConcurrent(t *testing.T) {
	t.Parallel()
	const limit = 4
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithTokenThrottle(limit, time.Minute))
	type client struct{ id, secret string }
	var clients []client
	for range 4 {
		id, secret := a.createClient(true)
		clients = append(clients, client{id, secret})
	}
	var wg sync.WaitGroup
	statuses := make([][]int, len(clients))
	for i, c := range clients {
		wg.Go(func() {
			for range 2 * limit {
				r, err := a.send("POST", "/token", "", noAuth(), form(), basic(c.id, "secret_wrong"))
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i] = append(statuses[i], r.Status)
			}
		})
	}
	wg.Wait()
	for i, c := range clients {
		require.Equal(t, []int{400, 400, 400, 400, 429, 429, 429, 429}, statuses[i], "client %d", i)
		requireThrottled(t, a.postToken(nil, basic(c.id, c.secret)), 60)
	}
	requireToken(t, a.postToken(nil, basic(a.clientID, a.secret)))
}
