package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"
)

// benchWrite is one acknowledged write of the benchmark.
type benchWrite struct {
	id      string
	version int64
	sent    time.Time
	acked   time.Time // the response: the write had committed
}

// bench writes o.benchRate PATCHes per second through the API for o.benchDuration (each
// contact one writer at a time), then measures, per write, the time from its response to
// the fake's acceptance of a state at least as new (its Writes log).
func (d *drill) bench(ctx context.Context, r *report) (bool, error) {
	const writers = 32
	tokens := make(chan struct{}, 4*d.o.benchRate)
	var (
		mu      sync.Mutex
		done    []benchWrite
		failed  int
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	perWriter := 300
	for w := range writers {
		mine := d.owned(apiFirst+w*perWriter, apiFirst+(w+1)*perWriter-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopped:
					return
				case <-tokens:
				}
				c := mine[i%len(mine)]
				v := nextVersion()
				body := fmt.Sprintf(`{"email":{"unsubscribe_reason":%q,"first_name":"B%d"},"newsletters":[{"name":%q,"subscribed":%v}]}`,
					v, i, newsletterNames[i%len(newsletterNames)], i%2 == 0)
				sent := time.Now()
				st, _, err := do(ctx, http.MethodPatch, d.api+"/ctms/"+c.id, d.token, "application/json", []byte(body))
				acked := time.Now()
				mu.Lock()
				if err != nil || st != http.StatusOK {
					failed++
				} else {
					done = append(done, benchWrite{id: c.id, version: versionOf(v), sent: sent, acked: acked})
				}
				mu.Unlock()
			}
		}()
	}
	logf("bench: %d writes/s through the API for %s", d.o.benchRate, d.o.benchDuration)
	began := time.Now()
	interval := time.Second / time.Duration(d.o.benchRate)
	dropped := 0
	for n := 0; time.Since(began) < d.o.benchDuration; n++ {
		time.Sleep(time.Until(began.Add(time.Duration(n) * interval)))
		select {
		case tokens <- struct{}{}:
		default:
			dropped++
		}
	}
	close(stopped)
	wg.Wait()
	loadTook := time.Since(began)
	if _, err := d.waitCaughtUp(ctx, 2*time.Minute); err != nil {
		return false, err
	}
	s, err := d.fakeState(ctx)
	if err != nil {
		return false, err
	}
	r.fillFromWrites(s, d)
	type accepted struct {
		at      time.Time
		version int64
	}
	byID := map[string][]accepted{}
	for _, w := range s.Writes {
		if w.Kind != "attributes" {
			continue
		}
		if arr, ok := w.Attributes["user_attributes_v1"].([]any); ok && len(arr) == 1 {
			ua, _ := arr[0].(map[string]any)
			byID[w.ExternalID] = append(byID[w.ExternalID], accepted{w.At, versionOf(ua["unsub_reason"])})
		}
	}
	var lags, fromSent []float64
	missing := 0
	for _, w := range done {
		found := false
		for _, a := range byID[w.id] {
			if a.version >= w.version {
				lags = append(lags, a.at.Sub(w.acked).Seconds())
				fromSent = append(fromSent, a.at.Sub(w.sent).Seconds())
				found = true
				break
			}
		}
		if !found {
			missing++
		}
	}
	sort.Float64s(lags)
	sort.Float64s(fromSent)
	pct := func(xs []float64, p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		return xs[min(len(xs)-1, int(math.Ceil(p*float64(len(xs))))-1)]
	}
	fmt.Printf("\nsync-bench: lag from commit to Braze (ctms-brazefake), %d contacts in the database\n", d.o.contacts)
	fmt.Printf("  load                 %d PATCH /ctms/{id} acknowledged in %.1f s (%.0f/s; %d failed, %d not sent: writers busy)\n",
		len(done), loadTook.Seconds(), float64(len(done))/loadTook.Seconds(), failed, dropped)
	fmt.Printf("  lag from the response (commit) to the fake's acceptance: p50 %.3f s, p99 %.3f s, max %.3f s\n",
		pct(lags, 0.5), pct(lags, 0.99), pct(lags, 1))
	fmt.Printf("  lag from the request's start:                             p50 %.3f s, p99 %.3f s, max %.3f s\n",
		pct(fromSent, 0.5), pct(fromSent, 0.99), pct(fromSent, 1))
	fmt.Printf("  backfill             %d contacts, all in the fake %.1f s after the syncers started\n", d.o.contacts, r.backfillTook.Seconds())
	ok := missing == 0
	if !ok {
		fmt.Printf("  FAIL: %d acknowledged writes never reached the fake\n", missing)
	}
	p99 := pct(lags, 0.99)
	fmt.Printf("  target p99 <= 2 s: %v\n", p99 <= 2)
	return ok, nil
}
