package brazesync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazesync"
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
	if opt.PollInterval == 0 {
		opt.PollInterval = 20 * time.Millisecond
	}
	rctx, cancel := context.WithCancel(ctx)
	rep := &replica{esp: esp, stop: cancel, done: make(chan struct{}), health: &brazesync.Health{}}
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
		ESP: esp, Options: opt, Health: rep.health,
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
