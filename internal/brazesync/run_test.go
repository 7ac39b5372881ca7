package brazesync_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazefake"
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
	v.endLeaderSession()
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

// endLeaderSession ends the leader's session, as a database restart does.
func (v *env) endLeaderSession() {
	v.t.Helper()
	v.exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
}

// heldESP is the network between one replica and Braze: its first Track call waits
// until released. Then Braze applies it, unless its context ended first: then it never
// reached Braze, or, with late set, Braze had received it and applies it anyway.
type heldESP struct {
	*memESP
	late      bool
	mu        sync.Mutex
	holding   bool
	held      chan struct{} // closed when the call is being held
	release   chan struct{}
	abandoned time.Time // when the held call's context ended
}

func newHeldESP(braze *memESP, late bool) *heldESP {
	return &heldESP{memESP: braze, late: late, holding: true, held: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldESP) abandonedAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.abandoned
}

func (h *heldESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) ([]braze.MinorError, error) {
	h.mu.Lock()
	hold := h.holding
	h.holding = false
	h.mu.Unlock()
	if !hold {
		return h.memESP.Track(ctx, attrs, events)
	}
	close(h.held)
	select {
	case <-h.release:
	case <-ctx.Done():
		h.mu.Lock()
		h.abandoned = time.Now()
		h.mu.Unlock()
		if !h.late {
			return nil, ctx.Err()
		}
		<-h.release
		_, _ = h.memESP.Track(context.Background(), attrs, events)
		return nil, ctx.Err()
	}
	return h.memESP.Track(ctx, attrs, events)
}

func (h *heldESP) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica never pushed")
	}
}

func firstName(braze *memESP, id string) any {
	if p := braze.profile(id); p != nil {
		return p["first_name"]
	}
	return nil
}

// TestDeposedLeaderNeverPushesAfterTakeover: a leader whose session ends while its
// request to Braze is in flight (a database restart, a network cut) must not have that
// request applied after the new leader's pushes: Braze would keep the older state, and
// the new leader, which recorded the newer one as pushed, would never repair it. The
// deposed leader abandons its request once it cannot prove its lock (fence.go), and
// the new leader waits out the lease before its first push.
func TestDeposedLeaderNeverPushesAfterTakeover(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	braze := newMemESP() // one Braze workspace, two replicas
	lease := 400 * time.Millisecond
	c := v.create("deposed@example.com", func(c *contact.Contact) { c.Email.FirstName = sp("Old") })
	id := c.Email.EmailID.String()
	aNet := newHeldESP(braze, false)
	// a polls rarely: once deposed, it does not win the lock back before b.
	a := startReplicaOn(t, v.url, aNet, brazesync.Options{LeaderLease: lease, PollInterval: 10 * time.Second})
	aNet.waitHeld(t)
	if !a.health.Snapshot().Leader {
		t.Fatal("a pushed without leading")
	}
	b := startReplica(t, v.url, braze, brazesync.Options{LeaderLease: lease})
	v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("New") })
	v.endLeaderSession()
	ended := time.Now()
	eventually(t, "b leads", 10*time.Second, func() bool { return b.health.Snapshot().Leader })
	eventually(t, "b pushes the newer state", 10*time.Second, func() bool { return firstName(braze, id) == "New" })
	if first := braze.firstCallAt(); first.Sub(ended) < lease {
		t.Errorf("b's first push %s after a's session ended, before a's lease (%s) ran out", first.Sub(ended), lease)
	}
	close(aNet.release) // a's request reaches Braze now, unless a abandoned it
	time.Sleep(300 * time.Millisecond)
	if got := firstName(braze, id); got != "New" {
		t.Errorf("Braze has first_name %v after the deposed leader's request, want New", got)
	}
}

// TestDeposedLeadersLateRequestRepaired: a request Braze received before its leader
// abandoned it, and applies after the new leader's pushes (an older state over a newer
// one, a deleted profile back), is repaired by the new leader RepairDelay later: a push
// of every attribute, and the deletion again.
func TestDeposedLeadersLateRequestRepaired(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	braze := newMemESP()
	opt := brazesync.Options{LeaderLease: 300 * time.Millisecond, RepairDelay: 4 * time.Second}
	changed := v.create("changed@example.com", func(c *contact.Contact) { c.Email.FirstName = sp("Old") })
	deleted := v.create("deleted@example.com", nil)
	cid, did := changed.Email.EmailID.String(), deleted.Email.EmailID.String()
	aNet := newHeldESP(braze, true)
	aOpt := opt
	aOpt.PollInterval = 10 * time.Second
	startReplicaOn(t, v.url, aNet, aOpt) // pushes both contacts in one request, held
	aNet.waitHeld(t)
	b := startReplica(t, v.url, braze, opt)
	v.replace(changed, func(c *contact.Contact) { c.Email.FirstName = sp("New") })
	if _, err := v.st.DeleteByPrimaryEmail(ctx, "deleted@example.com", "id_test"); err != nil {
		t.Fatal(err)
	}
	v.endLeaderSession()
	eventually(t, "b leads", 10*time.Second, func() bool { return b.health.Snapshot().Leader })
	led := time.Now()
	eventually(t, "b pushes the change and the deletion", 10*time.Second, func() bool {
		return firstName(braze, cid) == "New" && len(braze.deleted) > 0 && braze.profile(did) == nil
	})
	close(aNet.release) // Braze applies a's request now, though a abandoned it
	eventually(t, "a's request applied late", 5*time.Second, func() bool { return firstName(braze, cid) == "Old" })
	if time.Since(led) >= opt.RepairDelay {
		t.Fatalf("the late request landed %s after b led, after the repair was due: the machine is too slow for this test's timing", time.Since(led))
	}
	if braze.profile(did) == nil {
		t.Fatal("the late request did not bring the deleted profile back: the test's model is wrong")
	}
	if s, err := brazesync.ReadStatus(ctx, v.pool); err != nil || s.Repairs != 2 {
		t.Errorf("status %+v, %v: want 2 repairs scheduled", s, err)
	}
	eventually(t, "the repair: the newer state back, the profile deleted again", 10*time.Second, func() bool {
		return firstName(braze, cid) == "New" && braze.profile(did) == nil
	})
	eventually(t, "the repair acknowledged: an empty backlog", 5*time.Second, func() bool {
		s, err := brazesync.ReadStatus(ctx, v.pool)
		return err == nil && s.Backlog == 0
	})
}

// TestDeposedLeaderRealClientNoRetry: the case CI's drill met, through the real Braze
// client and internal/brazefake. The leader's request is held, then answered 504;
// meanwhile its session ends and the new leader pushes a newer state. The deposed
// leader's client must not retry (its context was cancelled): its retry would apply
// the older state last.
func TestDeposedLeaderRealClientNoRetry(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	fake := brazefake.New(brazefake.Options{APIKey: "fence-key"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := func() *braze.Client {
		c, err := braze.New(braze.Config{URL: srv.URL, APIKey: "fence-key",
			Retry: braze.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	opt := brazesync.Options{LeaderLease: 400 * time.Millisecond}
	c := v.create("realclient@example.com", func(c *contact.Contact) { c.Email.FirstName = sp("Old") })
	id := c.Email.EmailID.String()
	fake.SetFaults(brazefake.Faults{Hang: 3 * time.Second})
	fake.FailNext("/users/track", brazefake.FaultTimeout, 1)
	aOpt := opt
	aOpt.PollInterval = 10 * time.Second
	a := startReplicaOn(t, v.url, client(), aOpt)
	eventually(t, "a's request held", 10*time.Second, func() bool {
		return a.health.Snapshot().Leader && fake.Counters().Faults[brazefake.FaultTimeout] == 1
	})
	b := startReplicaOn(t, v.url, client(), opt)
	v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("New") })
	v.endLeaderSession()
	eventually(t, "b pushes the newer state", 10*time.Second, func() bool {
		p, ok := fake.Profile(id)
		return ok && p.Standard["first_name"] == "New"
	})
	_ = b
	time.Sleep(3 * time.Second) // a's 504, then its back-off, had it retried
	if p, _ := fake.Profile(id); p.Standard["first_name"] != "New" {
		t.Errorf("the fake has first_name %v: the deposed leader retried after the new leader's push", p.Standard["first_name"])
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

// TestLeaderCutOffAbandonsItsRequest: a leader cut off from the database (its pings go
// unanswered, its session looks alive to it) abandons its in-flight request when its
// lease runs out.
func TestLeaderCutOffAbandonsItsRequest(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	u, err := url.Parse(v.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttableProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()
	lease := 400 * time.Millisecond
	v.create("cutoff@example.com", nil)
	aNet := newHeldESP(newMemESP(), false)
	startReplicaOn(t, viaProxy.String(), aNet, brazesync.Options{LeaderLease: lease, PollInterval: 10 * time.Second})
	aNet.waitHeld(t)
	proxy.cut.Store(true)
	cutAt := time.Now()
	eventually(t, "a abandons its request", 5*time.Second, func() bool { return !aNet.abandonedAt().IsZero() })
	if took := aNet.abandonedAt().Sub(cutAt); took > 2*lease {
		t.Errorf("a abandoned its request %s after the cut, lease %s", took, lease)
	}
	// The server notices the lost session (in production by the keepalives of run.go).
	v.endLeaderSession()
}

// TestAnsweredRequestNotRepaired: a request Braze answered cannot land later, so a
// new leader schedules no repair for it (a routine restart costs no extra pushes).
func TestAnsweredRequestNotRepaired(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	braze := newMemESP()
	opt := brazesync.Options{LeaderLease: 200 * time.Millisecond}
	c := v.create("answered@example.com", nil)
	aOpt := opt
	aOpt.PollInterval = 10 * time.Second
	startReplica(t, v.url, braze, aOpt)
	eventually(t, "a pushes", 10*time.Second, func() bool { return braze.profile(c.Email.EmailID.String()) != nil })
	eventually(t, "a records the push", 5*time.Second, func() bool {
		s, err := brazesync.ReadStatus(ctx, v.pool)
		return err == nil && s.Backlog == 0
	})
	b := startReplica(t, v.url, braze, opt)
	v.endLeaderSession()
	eventually(t, "b leads", 10*time.Second, func() bool { return b.health.Snapshot().Leader })
	if s, err := brazesync.ReadStatus(ctx, v.pool); err != nil || s.Repairs != 0 {
		t.Errorf("status %+v, %v: a repair of an answered request", s, err)
	}
}

// TestSetupErrorSaysWhatToRun: a database without the syncer's tables, or without the
// privileges to write them, is reported by /__heartbeat__ as such (not as unreachable),
// naming what to run, and the replica retries slowly instead of reconnecting in a loop.
func TestSetupErrorSaysWhatToRun(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	v.exec(`DROP TABLE braze_sync_in_flight`)
	var connects atomic.Int32
	h := &brazesync.Health{}
	r := &brazesync.Runner{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			connects.Add(1)
			return pgx.Connect(ctx, v.url)
		},
		ESP: newMemESP(), Health: h,
		Options: brazesync.Options{PollInterval: 10 * time.Millisecond, RetryMaxDelay: time.Second},
	}
	rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_ = r.Run(rctx)
	s := h.Snapshot()
	if s.Healthy || s.Leader || !strings.Contains(s.Database, "braze_sync_in_flight") || !strings.Contains(s.Database, "ctms migrate") {
		t.Errorf("snapshot %+v, want unhealthy, naming the table and what to run", s)
	}
	if n := connects.Load(); n < 1 || n > 3 {
		t.Errorf("%d connections in 1.5 s (retrying after RetryMaxDelay, 1 s)", n)
	}
}
