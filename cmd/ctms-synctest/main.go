// Command ctms-synctest is the Braze sync drill (`make sync-test`, scripts/sync-test.sh)
// and its lag benchmark (`make sync-bench`). It runs real processes on loopback ports: a
// PostgreSQL of its own (initdb in a temporary directory), `ctms serve`, two `ctms sync`
// replicas and `ctms-brazefake` (internal/brazefake), and
//
//  1. backfill: inserts -contacts contacts by SQL (newsletters, waitlists, some fxa) before
//     the syncers start, and measures how fast the fake receives them all;
//  2. (drill) mixed writes while the syncer runs: POST/PUT/PATCH/DELETE through `ctms serve`
//     with an API client's token, plain-SQL writes (a bulk opt-out import, inserts, deletions,
//     read-then-write transactions held 2 s), with faults: the active syncer SIGKILLed several
//     times (the other replica must take over; each takeover is timed), the fake failing 20 %
//     of requests and a 429 storm, the PostgreSQL server restarted;
//  3. (drill) once the syncer has caught up, compares every profile in the fake with the
//     state computed by the drill from the database with its own SQL and its own reading of
//     the mapping (docs/operations.md; not internal/brazesync's code), every deletion, and the
//     order of the fake's accepted writes: per contact, the state version never goes back,
//     and no profile comes back after its final deletion;
//  4. (bench) 200 writes per second through the API for -bench-duration, and the 50th and
//     99th percentiles from each write's response to the fake's acceptance of it.
//
// Every drill write stamps email.unsubscribe_reason with "v<N>", N growing for the whole
// run, and each contact has one writer at a time: N is the contact's state version.
//
// It prints its figures and exits 1 on any mismatch (the first ones listed).
//
//	ctms-synctest -ctms bin/ctms -brazefake bin/ctms-brazefake -pgbin DIR [-mode drill|bench]
//	    [-contacts 100000] [-keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

type options struct {
	ctmsBin, fakeBin, pgbin string
	mode                    string
	contacts                int
	keep                    bool
	mixed                   time.Duration // the drill's mixed-writes phase
	benchRate               int
	benchDuration           time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.ctmsBin, "ctms", "bin/ctms", "the ctms binary")
	flag.StringVar(&o.fakeBin, "brazefake", "bin/ctms-brazefake", "the ctms-brazefake binary")
	flag.StringVar(&o.pgbin, "pgbin", "", "PostgreSQL server binaries (scripts/pgbin.sh)")
	flag.StringVar(&o.mode, "mode", "drill", "drill (faults and checks) or bench (lag at a steady write rate)")
	flag.IntVar(&o.contacts, "contacts", 100_000, "contacts backfilled before the syncers start")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, database)")
	flag.DurationVar(&o.mixed, "mixed", 60*time.Second, "length of the drill's mixed-writes phase")
	flag.IntVar(&o.benchRate, "bench-rate", 200, "writes per second of the benchmark")
	flag.DurationVar(&o.benchDuration, "bench-duration", 30*time.Second, "length of the benchmark's load")
	flag.Parse()
	if o.pgbin == "" || (o.mode != "drill" && o.mode != "bench") || o.contacts < 30_000 {
		fmt.Fprintln(os.Stderr, "usage: ctms-synctest -ctms BIN -brazefake BIN -pgbin DIR [-mode drill|bench] [-contacts N>=30000] [-keep]")
		os.Exit(2)
	}
	ok, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctms-synctest:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ctms-synctest: %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (bool, error) {
	began := time.Now()
	d, err := setUp(ctx, o)
	if d != nil {
		defer d.tearDown()
	}
	if err != nil {
		return false, err
	}
	r := &report{}
	if err := d.backfill(ctx, r); err != nil {
		return false, err
	}
	if o.mode == "bench" {
		return d.bench(ctx, r)
	}
	if err := d.mixedPhase(ctx, r); err != nil {
		return false, err
	}
	ok, err := d.finalCheck(ctx, r)
	if err != nil {
		return false, err
	}
	r.total = time.Since(began)
	r.print(ok)
	return ok, nil
}
