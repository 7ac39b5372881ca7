package brazesync_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazesync"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/store"
)

// replica is one `ctms sync` replica: a Runner on its own connections and ESP.
type replica struct {
	r      *brazesync.Runner
	esp    *memESP
	stop   context.CancelFunc
	done   chan struct{}
	health *brazesync.Health
}

func startReplica(t *testing.T, url string, esp *memESP, opt brazesync.Options) *replica {
	t.Helper()
	rep := startReplicaOn(t, url, esp, opt)
	rep.esp = esp
	return rep
}

// startReplicaOn starts a replica whose requests go through network.
func startReplicaOn(t *testing.T, url string, network braze.ESP, opt brazesync.Options) *replica {
	t.Helper()
	if opt.PollInterval == 0 {
		opt.PollInterval = 20 * time.Millisecond
	}
	rctx, cancel := context.WithCancel(ctx)
	rep := &replica{stop: cancel, done: make(chan struct{}), health: &brazesync.Health{}}
	rep.r = &brazesync.Runner{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cc, err := pgx.ParseConfig(url)
			if err != nil {
				return nil, err
			}
			cc.RuntimeParams["timezone"] = "UTC"
			cc.RuntimeParams["application_name"] = "ctms-sync"
			conn, err := pgx.ConnectConfig(ctx, cc)
			if err == nil {
				_ = store.PrepareConn(ctx, conn)
			}
			return conn, err
		},
		ESP: network, Options: opt, Health: rep.health,
	}
	go func() { defer close(rep.done); _ = rep.r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-rep.done })
	return rep
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaderTakeover: of two replicas exactly one works; when its session dies (as
// when its process is killed), the other takes over within seconds and nothing is lost.
func TestLeaderTakeover(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	a := startReplica(t, v.url, newMemESP(), brazesync.Options{})
	b := startReplica(t, v.url, newMemESP(), brazesync.Options{})
	leaders := func() (n int, which *replica) {
		for _, r := range []*replica{a, b} {
			if r.health.Snapshot().Leader {
				n, which = n+1, r
			}
		}
		return n, which
	}
	eventually(t, "a leader", 10*time.Second, func() bool { n, _ := leaders(); return n == 1 })
	_, first := leaders()
	c1 := v.create("one@example.com", nil)
	eventually(t, "the first contact pushed by the leader", 10*time.Second, func() bool {
		return first.esp.profile(c1.Email.EmailID.String()) != nil
	})
	for range 20 { // never two leaders
		if n, _ := leaders(); n != 1 {
			t.Fatalf("%d leaders", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	other := a
	if first == a {
		other = b
	}
	if len(other.esp.callList()) != 0 {
		t.Fatalf("the standby pushed: %v", other.esp.callList())
	}
	// The leader's session ends (kill -9 of its process ends it the same way); it must
	// not push from now on, so its ESP refuses everything.
	first.esp.setErr(espError("the killed replica is gone"))
	v.exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	first.stop()
	<-first.done
	start := time.Now()
	eventually(t, "the standby takes over", 5*time.Second, func() bool { return other.health.Snapshot().Leader })
	t.Logf("took over in %s", time.Since(start).Round(time.Millisecond))
	c2 := v.create("two@example.com", nil)
	eventually(t, "the new leader pushes", 10*time.Second, func() bool {
		return other.esp.profile(c2.Email.EmailID.String()) != nil
	})
	eventually(t, "an empty backlog", 5*time.Second, func() bool {
		s, err := brazesync.ReadStatus(ctx, v.pool)
		return err == nil && s.Backlog == 0
	})
}

// TestAuthFailureUnhealthyWithoutHammering: a refused key makes the replica unhealthy
// and backs off (a few requests, not one per poll); fixed, it recovers by itself.
func TestAuthFailureUnhealthyWithoutHammering(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	esp := newMemESP()
	esp.setErr(fmt.Errorf("%w (403)", braze.ErrAuth))
	c := v.create("key@example.com", nil)
	rep := startReplica(t, v.url, esp, brazesync.Options{PollInterval: 10 * time.Millisecond, RetryMaxDelay: time.Second})
	eventually(t, "unhealthy", 10*time.Second, func() bool { return rep.health.Snapshot().BrazeAuth == "refused" })
	if rep.health.Snapshot().Healthy {
		t.Error("healthy while the key is refused")
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(esp.callList()); n > 5 {
		t.Errorf("%d requests in 1.5 s with a refused key (polling every 10 ms): hammering", n)
	}
	esp.setErr(nil)
	eventually(t, "pushed once the key works", 10*time.Second, func() bool { return esp.profile(c.Email.EmailID.String()) != nil })
	eventually(t, "healthy again", 5*time.Second, func() bool { return rep.health.Snapshot().Healthy })
}

// TestReconnectsAfterLostSession: a lone replica whose session is terminated (a
// database restart, a failover) reconnects, leads again and pushes what follows.
func TestReconnectsAfterLostSession(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	rep := startReplica(t, v.url, newMemESP(), brazesync.Options{})
	eventually(t, "leading", 10*time.Second, func() bool { return rep.health.Snapshot().Leader })
	v.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ctms-sync'`)
	c := v.create("after@example.com", nil)
	eventually(t, "pushed after the reconnection", 10*time.Second, func() bool {
		return rep.esp.profile(c.Email.EmailID.String()) != nil
	})
}

// TestUnhealthyWithoutDatabase: a replica that cannot reach the database is unhealthy
// (its /__heartbeat__ answers 503) and keeps trying.
func TestUnhealthyWithoutDatabase(t *testing.T) {
	tries := 0
	h := &brazesync.Health{}
	r := &brazesync.Runner{
		Connect: func(context.Context) (*pgx.Conn, error) { tries++; return nil, fmt.Errorf("connection refused") },
		ESP:     newMemESP(), Health: h, Options: brazesync.Options{PollInterval: 5 * time.Millisecond},
	}
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_ = r.Run(rctx)
	if s := h.Snapshot(); s.Healthy || s.Database == "ok" || s.Leader {
		t.Errorf("snapshot %+v without a database", s)
	}
	if tries < 2 {
		t.Errorf("%d connection attempts, want retries", tries)
	}
}

// heldESP is the network between one replica and Braze: while hold is set, a Track
// call waits until it is released (then Braze applies it) or its context ends (then
// it never reaches Braze).
type heldESP struct {
	*memESP
	mu        sync.Mutex
	hold      bool
	held      chan struct{} // closed when a call is being held
	release   chan struct{}
	abandoned time.Time // when the held call's context ended
}

func (h *heldESP) abandonedAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.abandoned
}

func (h *heldESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) ([]braze.MinorError, error) {
	h.mu.Lock()
	hold := h.hold
	h.hold = false
	h.mu.Unlock()
	if hold {
		close(h.held)
		select {
		case <-h.release:
		case <-ctx.Done():
			h.mu.Lock()
			h.abandoned = time.Now()
			h.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return h.memESP.Track(ctx, attrs, events)
}

// TestDeposedLeaderNeverPushesAfterTakeover: a leader whose session ends while its
// request to Braze is in flight (a database restart, a failover, a network cut) must
// not have that request applied after the new leader's pushes: Braze would keep the
// older state, and the new leader, which recorded the newer one as pushed, would
// never repair it. The deposed leader's request is abandoned once it can no longer
// prove its lock, and the new leader waits out the lease before its first push.
func TestDeposedLeaderNeverPushesAfterTakeover(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	braze := newMemESP() // one Braze workspace, two replicas
	lease := 400 * time.Millisecond
	aNet := &heldESP{memESP: braze, hold: true, held: make(chan struct{}), release: make(chan struct{})}
	a := startReplicaOn(t, v.url, aNet, brazesync.Options{LeaderLease: lease})
	eventually(t, "a leads", 10*time.Second, func() bool { return a.health.Snapshot().Leader })
	b := startReplica(t, v.url, braze, brazesync.Options{LeaderLease: lease})

	c := v.create("deposed@example.com", func(c *contact.Contact) { c.Email.FirstName = sp("Old") })
	id := c.Email.EmailID.String()
	select {
	case <-aNet.held:
	case <-time.After(10 * time.Second):
		t.Fatal("a never pushed")
	}
	// a's session ends while its push is in flight; b takes over.
	v.exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	ended := time.Now()
	eventually(t, "b leads", 10*time.Second, func() bool { return b.health.Snapshot().Leader })
	v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("New") })
	eventually(t, "b pushes the newer state", 10*time.Second, func() bool {
		p := braze.profile(id)
		return p != nil && p["first_name"] == "New"
	})
	if first := braze.firstCallAt(); first.Sub(ended) < lease {
		t.Errorf("b's first push %s after a's session ended, before a's lease (%s) ran out", first.Sub(ended), lease)
	}
	close(aNet.release) // a's request reaches Braze now, unless a abandoned it
	time.Sleep(300 * time.Millisecond)
	if p := braze.profile(id); p["first_name"] != "New" {
		t.Errorf("Braze has first_name %v after the deposed leader's request, want New", p["first_name"])
	}
}

// cuttableProxy forwards TCP connections to PostgreSQL until cut: from then on it
// drops what either side sends (a network cut), and still closes the server's side
// when the client closes its own.
type cuttableProxy struct {
	ln  net.Listener
	cut atomic.Bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *cuttableProxy) pipe(from, to net.Conn) {
	defer func() { _ = from.Close(); _ = to.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestLeaderCutOffAbandonsItsRequest: a leader cut off from the database (its pings
// go unanswered) abandons its in-flight request when its lease runs out, before the
// new leader pushes anything.
func TestLeaderCutOffAbandonsItsRequest(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	u, err := url.Parse(v.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttableProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()
	braze := newMemESP()
	lease := 400 * time.Millisecond
	aNet := &heldESP{memESP: braze, hold: true, held: make(chan struct{}), release: make(chan struct{})}
	a := startReplicaOn(t, viaProxy.String(), aNet, brazesync.Options{LeaderLease: lease})
	eventually(t, "a leads", 10*time.Second, func() bool { return a.health.Snapshot().Leader })
	b := startReplica(t, v.url, braze, brazesync.Options{LeaderLease: lease})

	c := v.create("cutoff@example.com", func(c *contact.Contact) { c.Email.FirstName = sp("Old") })
	id := c.Email.EmailID.String()
	select {
	case <-aNet.held:
	case <-time.After(10 * time.Second):
		t.Fatal("a never pushed")
	}
	proxy.cut.Store(true)
	cutAt := time.Now()
	eventually(t, "a abandons its request", 5*time.Second, func() bool { return !aNet.abandonedAt().IsZero() })
	if took := aNet.abandonedAt().Sub(cutAt); took > 2*lease {
		t.Errorf("a abandoned its request %s after the cut, lease %s", took, lease)
	}
	// The server notices the lost session (by TCP keepalives in production: keepalives in run.go).
	v.exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	eventually(t, "b leads", 10*time.Second, func() bool { return b.health.Snapshot().Leader })
	v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("New") })
	eventually(t, "b pushes the newer state", 10*time.Second, func() bool {
		p := braze.profile(id)
		return p != nil && p["first_name"] == "New"
	})
	if first := braze.firstCallAt(); !first.After(aNet.abandonedAt()) {
		t.Errorf("b pushed at %s, before a abandoned its request at %s", first, aNet.abandonedAt())
	}
}
