// Command ctms-hatest is the load and verification half of the failover drill
// (`make ha-test`, scripts/ha-test.sh). The script starts a pg_auto_failover formation
// and two `ctms serve` instances on it; this program
//
//  1. gets a token from POST /token and notes which node is the primary;
//  2. drives a write load (POST /ctms with fresh email ids, alternating between the
//     instances) and records every acknowledged (201) write;
//  3. after the warm-up, runs the failover command given after `--` (the script passes
//     `pg_autoctl perform failover`) while the load goes on, and keeps the load running
//     for a while after it returns;
//  4. stops the load, waits for in-flight requests, and checks on the new primary that
//     every acknowledged write is there;
//  5. read-replica check: /updates through the instance with CTMS_DB_READ_URL (served
//     from the standby) returns what /updates through the other instance (served from
//     the primary) returns, and the standby did serve it.
//
// It prints acknowledged writes, lost writes, failed requests during the switch (by
// status), the time to recovery and the read check, and exits 1 when a write was lost,
// a request failed with anything but 503 or a connection error, a request hung, the
// primary did not change, or the read check failed.
//
//	ctms-hatest -a URL -b URL -client-id ID -client-secret SECRET -db-url URL \
//	    -standby-url URL [-workers 8] [-warmup 5s] [-after 15s] -- failover command…
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

type options struct {
	a, b          string // instance base URLs; b routes reads to the standby
	clientID      string
	clientSecret  string
	dbURL         string // multi-host, target_session_attrs=read-write
	standbyURL    string // multi-host, target_session_attrs=standby
	workers       int
	warmup, after time.Duration
	timeout       time.Duration // HTTP client timeout: a request taking longer "hung"
	failover      []string
}

func main() {
	var o options
	flag.StringVar(&o.a, "a", "", "base URL of instance A (reads on the primary)")
	flag.StringVar(&o.b, "b", "", "base URL of instance B (CTMS_DB_READ_URL set)")
	flag.StringVar(&o.clientID, "client-id", "", "API client id (admin role)")
	flag.StringVar(&o.clientSecret, "client-secret", "", "API client secret")
	flag.StringVar(&o.dbURL, "db-url", "", "database URL of the primary (multi-host, target_session_attrs=read-write)")
	flag.StringVar(&o.standbyURL, "standby-url", "", "database URL of the standby (multi-host, target_session_attrs=standby)")
	flag.IntVar(&o.workers, "workers", 8, "concurrent writers")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the failover")
	flag.DurationVar(&o.after, "after", 15*time.Second, "load after the failover command returns")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "HTTP timeout; a request taking longer counts as hung")
	flag.Parse()
	o.failover = flag.Args()
	if o.a == "" || o.b == "" || o.clientID == "" || o.clientSecret == "" || o.dbURL == "" || o.standbyURL == "" || len(o.failover) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ctms-hatest -a URL -b URL -client-id ID -client-secret SECRET -db-url URL -standby-url URL [-workers N] [-warmup D] [-after D] -- failover command…")
		os.Exit(2)
	}
	ok, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctms-hatest:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ctms-hatest: %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (bool, error) {
	testStart := time.Now()
	token, err := getToken(ctx, o.a, o.clientID, o.clientSecret)
	if err != nil {
		return false, err
	}
	before, err := primaryPort(ctx, o.dbURL)
	if err != nil {
		return false, fmt.Errorf("primary before the failover: %w", err)
	}
	logf("primary is on port %d; load with %d writers on %s and %s", before, o.workers, o.a, o.b)

	l := newLoad([]string{o.a, o.b}, token, o.workers, o.timeout)
	l.start()
	time.Sleep(o.warmup)

	logf("failover: %s", strings.Join(o.failover, " "))
	foStart := time.Now()
	foCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	cmd := exec.CommandContext(foCtx, o.failover[0], o.failover[1:]...) // #nosec G204 -- the failover command the drill is given
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	foErr := cmd.Run()
	cancel()
	foEnd := time.Now()
	if foErr != nil {
		l.stop()
		return false, fmt.Errorf("failover command: %w", foErr)
	}
	logf("failover command returned after %.1f s; load goes on for %s", foEnd.Sub(foStart).Seconds(), o.after)
	time.Sleep(o.after)
	l.stop()
	logf("load stopped")

	after, err := primaryPort(ctx, o.dbURL)
	if err != nil {
		return false, fmt.Errorf("primary after the failover: %w", err)
	}
	r := l.report(foStart)
	lost, extra, err := verify(ctx, o.dbURL, r.acked, r.unknown)
	if err != nil {
		return false, fmt.Errorf("verify on the new primary: %w", err)
	}
	rc := readCheck(ctx, o, token, testStart, r.acked)

	ok := true
	fmt.Printf("\nha-test: failover drill (pg_auto_failover, 2 nodes, synchronous replication; 2 ctms instances)\n")
	fmt.Printf("  primary                 port %d -> port %d\n", before, after)
	if before == after {
		fmt.Printf("  FAIL: the primary did not change\n")
		ok = false
	}
	fmt.Printf("  failover command        %.1f s (pg_autoctl perform failover)\n", foEnd.Sub(foStart).Seconds())
	fmt.Printf("  requests                %d in %.1f s (%.0f/s)\n", r.total, r.duration.Seconds(), float64(r.total)/r.duration.Seconds())
	fmt.Printf("  acknowledged writes     %d\n", len(r.acked))
	fmt.Printf("  lost writes             %d\n", len(lost))
	if len(lost) > 0 {
		ok = false
		for i, id := range lost {
			if i == 10 {
				fmt.Printf("                          …\n")
				break
			}
			fmt.Printf("                          %s\n", id)
		}
	}
	fmt.Printf("  failed requests         %d %s\n", r.failed, r.byStatus())
	fmt.Printf("  unacknowledged but stored %d (failed requests whose write committed anyway; clients retry them: 200 for an identical re-POST)\n", extra)
	if r.bad > 0 {
		fmt.Printf("  FAIL: %d failed requests were neither 503 nor a connection error\n", r.bad)
		ok = false
	}
	if r.hung > 0 {
		fmt.Printf("  FAIL: %d requests took longer than %s\n", r.hung, o.timeout)
		ok = false
	}
	if r.failed > 0 {
		fmt.Printf("  failures                from %+.2f s to %+.2f s after the failover command started (%.2f s)\n",
			r.firstFail.Sub(foStart).Seconds(), r.lastFail.Sub(foStart).Seconds(), r.lastFail.Sub(r.firstFail).Seconds())
		if r.recovered.IsZero() {
			fmt.Printf("  FAIL: no request succeeded after the first failure\n")
			ok = false
		} else {
			fmt.Printf("  time to recovery        %.2f s (first failure to last failure: from then on every request succeeds)\n",
				r.lastFail.Sub(r.firstFail).Seconds())
			fmt.Printf("                          %.2f s to the first success after the first failure\n",
				r.recovered.Sub(r.firstFail).Seconds())
		}
	} else {
		fmt.Printf("  time to recovery        0 s (no request failed)\n")
	}
	fmt.Printf("  slowest request         %.2f s (slowest failed request: %.2f s)\n", r.slowest.Seconds(), r.slowestFailed.Seconds())
	fmt.Printf("  read replica            %s\n", rc.summary)
	if !rc.ok {
		ok = false
	}
	if ok {
		fmt.Printf("ha-test: PASS\n")
	} else {
		fmt.Printf("ha-test: FAIL\n")
	}
	return ok, nil
}
