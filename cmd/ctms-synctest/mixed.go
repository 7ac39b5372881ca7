package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Partitions of the backfilled contacts (indices): each has one writer.
const (
	importFirst, importLast = 1, 10_000      // the bulk opt-out import
	apiFirst, apiPer        = 20_001, 500    // API writer w: apiFirst+w*apiPer …
	apiWriters              = 4              //
	sqlFirst, sqlLast       = 23_001, 24_000 // the SQL writer
)

// takeover is one SIGKILL of the active syncer.
type takeover struct {
	at       time.Time
	backlog  float64 // the killed leader's backlog metric just before
	took     time.Duration
	phase    string
	firstAck time.Duration // from the kill to the fake's next accepted write (filled by the final check)
}

func (d *drill) owned(first, last int) []*owned {
	var out []*owned
	for i := first; i <= last && i <= d.o.contacts; i++ {
		c := d.backfilled[i]
		out = append(out, &owned{id: c.id, email: c.email, hasFxaID: c.hasFxaID})
	}
	return out
}

// killLeader SIGKILLs the active syncer, times the other replica's takeover, and starts a
// new replica in its place.
func (d *drill) killLeader(ctx context.Context, r *report, phase string) error {
	l := d.leader(ctx)
	if l == nil {
		var err error
		if l, _, err = d.waitLeader(ctx, nil, 30*time.Second); err != nil {
			return err
		}
	}
	backlog, _ := metric(ctx, l.metricsURL, "ctms_background_braze_sync_backlog")
	at := time.Now()
	l.p.kill()
	d.dropReplica(l)
	_, seen, err := d.waitLeader(ctx, l, 30*time.Second)
	if err != nil {
		return fmt.Errorf("after SIGKILL of %s: %w", l.p.name, err)
	}
	t := takeover{at: at, backlog: backlog, took: seen.Sub(at), phase: phase}
	r.takeovers = append(r.takeovers, &t)
	logf("SIGKILL %s (%s; backlog %.0f): the other replica leads after %.2f s", l.p.name, phase, backlog, t.took.Seconds())
	_, err = d.startReplica()
	return err
}

// bulkImport opts out the import partition in one transaction, as an opt-out import run
// by SQL would.
func (d *drill) bulkImport(ctx context.Context, t *tally) {
	var ids []string
	for i := importFirst; i <= importLast; i++ {
		ids = append(ids, d.backfilled[i].id)
	}
	tx, err := d.pool.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `UPDATE emails SET has_opted_out_of_email = true, unsubscribe_reason = $2,
			update_timestamp = now() WHERE email_id = ANY($1::uuid[])`, ids, nextVersion()+" opt-out import")
		if err == nil {
			_, err = tx.Exec(ctx, `UPDATE newsletters SET subscribed = false, update_timestamp = now()
				WHERE email_id = ANY($1::uuid[])`, ids)
		}
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
	}
	if err != nil {
		t.add("SQL bulk opt-out import (10,000 contacts) error")
		logf("bulk import failed: %v", err)
		return
	}
	t.add("SQL bulk opt-out import (10,000 contacts) ok")
}

// mixedPhase writes through the API and by SQL while the faults happen.
func (d *drill) mixedPhase(ctx context.Context, r *report) error {
	r.writes = &tally{counts: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(pause time.Duration, step func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				step()
				time.Sleep(pause)
			}
		}()
	}
	for w := range apiWriters {
		aw := &apiWriter{d: d, r: rand.New(rand.NewPCG(uint64(w), 19)), t: r.writes, // #nosec G404 -- test data
			mine: d.owned(apiFirst+w*apiPer, apiFirst+(w+1)*apiPer-1)}
		loop(25*time.Millisecond, func() { aw.step(ctx) })
	}
	sw := &sqlWriter{d: d, r: rand.New(rand.NewPCG(7, 19)), t: r.writes, mine: d.owned(sqlFirst, sqlLast-200)} // #nosec G404 -- test data
	loop(100*time.Millisecond, func() { sw.step(ctx) })
	rtw := &sqlWriter{d: d, r: rand.New(rand.NewPCG(8, 19)), t: r.writes, mine: d.owned(sqlLast-199, sqlLast)} // #nosec G404 -- test data
	loop(700*time.Millisecond, func() { rtw.readThenWrite(ctx) })
	rtw2 := &sqlWriter{d: d, r: rand.New(rand.NewPCG(9, 19)), t: r.writes, mine: d.owned(sqlLast+1, sqlLast+200)} // #nosec G404 -- test data
	loop(900*time.Millisecond, func() { rtw2.readThenWrite(ctx) })

	began := time.Now()
	r.mixedStart = began
	at := func(s float64) { time.Sleep(time.Until(began.Add(time.Duration(s * float64(time.Second))))) }
	scale := d.o.mixed.Seconds() / 50
	faults20 := map[string]any{"server_error": 0.10, "timeout": 0.05, "drop": 0.05, "hang_ms": 1000}
	var err error
	step := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	at(2 * scale)
	logf("bulk opt-out import of %d contacts by SQL", importLast-importFirst+1)
	t := time.Now()
	d.bulkImport(ctx, r.writes)
	logf("bulk import committed after %.1f s", time.Since(t).Seconds())
	// Kill while the leader pushes the import: once its backlog metric shows it queued.
	for t := time.Now(); time.Since(t) < 8*time.Second; time.Sleep(100 * time.Millisecond) {
		if l := d.leader(ctx); l != nil {
			if b, _ := metric(ctx, l.metricsURL, "ctms_background_braze_sync_backlog"); b > 500 {
				break
			}
		}
	}
	step(func() error { return d.killLeader(ctx, r, "pushing the bulk import") })
	at(10 * scale)
	logf("faults: 20 %% of the fake's requests fail (10 %% 500, 5 %% held 1 s then 504, 5 %% applied then dropped)")
	step(func() error { return d.setFaults(ctx, faults20) })
	at(14 * scale)
	step(func() error { return d.killLeader(ctx, r, "20 % faults") })
	at(20 * scale)
	logf("faults: 429 storm (every request) for 6 s")
	step(func() error { return d.setFaults(ctx, map[string]any{"rate_limit": 1.0}) })
	at(26 * scale)
	step(func() error { return d.setFaults(ctx, faults20) })
	at(30 * scale)
	step(func() error {
		logf("PostgreSQL restart (pg_ctl restart -m fast)")
		t := time.Now()
		if err := d.pg.ctl("restart"); err != nil {
			return err
		}
		r.pgRestart = time.Now()
		r.pgRestartTook = time.Since(t)
		_, seen, err := d.waitLeader(ctx, nil, 60*time.Second)
		if err != nil {
			return fmt.Errorf("after the PostgreSQL restart: %w", err)
		}
		r.pgReleader = seen.Sub(r.pgRestart)
		logf("PostgreSQL back after %.1f s; a replica leads %.2f s later", r.pgRestartTook.Seconds(), r.pgReleader.Seconds())
		return nil
	})
	at(38 * scale)
	step(func() error { return d.killLeader(ctx, r, "20 % faults, after the restart") })
	at(44 * scale)
	logf("faults off")
	step(func() error { return d.setFaults(ctx, map[string]any{}) })
	at(50 * scale)
	close(stop)
	wg.Wait()
	r.mixedEnd = time.Now()
	if err != nil {
		return err
	}
	logf("writers stopped; waiting for the syncer to catch up")
	took, err := d.waitCaughtUp(ctx, 5*time.Minute)
	if err != nil {
		return err
	}
	r.catchUp = took
	return nil
}
