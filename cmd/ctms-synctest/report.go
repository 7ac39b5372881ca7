package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ctms-go/ctms/internal/brazefake"
)

type report struct {
	backfillInsert time.Duration
	syncStart      time.Time
	backfillPushed int
	backfillTook   time.Duration

	writes               *tally
	mixedStart, mixedEnd time.Time
	takeovers            []*takeover
	pgRestart            time.Time
	pgRestartTook        time.Duration
	pgReleader           time.Duration
	pgFirstAck           time.Duration
	catchUp              time.Duration

	contacts, profiles, deletedInCTMS, staleAliases int
	compare, order                                  *mismatches
	writeCounts                                     map[string]int
	counters                                        brazefake.Counters
	total                                           time.Duration
}

func (r *report) backfillRate() float64 {
	if r.backfillTook <= 0 {
		return 0
	}
	return float64(r.backfillPushed) / r.backfillTook.Seconds()
}

func (m *mismatches) print(title string) bool {
	if m.n == 0 {
		fmt.Printf("  %-34s 0 differences\n", title)
		return true
	}
	var kinds []string
	for k, n := range m.kinds {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Printf("  %-34s FAIL: %d differences (%s); the first ones:\n", title, m.n, strings.Join(kinds, ", "))
	for _, f := range m.first {
		fmt.Printf("      %s\n", f)
	}
	return false
}

func (r *report) print(ok bool) {
	fmt.Printf("\nsync-test: Braze sync drill (2 ctms sync replicas, ctms serve, ctms-brazefake, a private PostgreSQL)\n")
	fmt.Printf("  backfill                           %d contacts inserted by SQL in %.1f s; all in the fake %.1f s after the syncers started: %.0f contacts/s\n",
		r.backfillPushed, r.backfillInsert.Seconds(), r.backfillTook.Seconds(), r.backfillRate())
	fmt.Printf("  mixed writes                       %.0f s, while the syncer runs:\n%s", r.mixedEnd.Sub(r.mixedStart).Seconds(), r.writes)
	for i, t := range r.takeovers {
		fmt.Printf("  SIGKILL %d of the active syncer     %s, backlog %.0f: other replica leads after %.2f s, the fake's next accepted write %.2f s after the kill\n",
			i+1, t.phase, t.backlog, t.took.Seconds(), t.firstAck.Seconds())
	}
	if !r.pgRestart.IsZero() {
		fmt.Printf("  PostgreSQL restart                 pg_ctl restart -m fast %.1f s; a replica leads %.2f s after, the fake's next accepted write %.2f s after\n",
			r.pgRestartTook.Seconds(), r.pgReleader.Seconds(), r.pgFirstAck.Seconds())
	}
	var reqs []string
	for path, by := range r.counters.Requests {
		var sts []string
		for st, n := range by {
			sts = append(sts, fmt.Sprintf("%s×%d", st, n))
		}
		sort.Strings(sts)
		reqs = append(reqs, fmt.Sprintf("%s %s", path, strings.Join(sts, " ")))
	}
	sort.Strings(reqs)
	fmt.Printf("  fake's requests                    %s\n", strings.Join(reqs, "; "))
	fmt.Printf("  fake's faults injected             %v\n", r.counters.Faults)
	fmt.Printf("  caught up                          %.1f s after the writers stopped\n", r.catchUp.Seconds())
	fmt.Printf("  compared                           %d contacts in CTMS, %d profiles in the fake, %d contacts deleted in CTMS\n",
		r.contacts, r.profiles, r.deletedInCTMS)
	fmt.Printf("  accepted writes                    %v\n", r.writeCounts)
	r.compare.print("profiles = CTMS")
	r.order.print("accepted writes in order")
	fmt.Printf("  stale aliases                      %d (an fxa_id the contact no longer has stays on its profile: aliases are only added)\n", r.staleAliases)
	fmt.Printf("  total                              %.0f s\n", r.total.Seconds())
	if ok {
		fmt.Printf("sync-test: PASS\n")
	} else {
		fmt.Printf("sync-test: FAIL\n")
	}
}
