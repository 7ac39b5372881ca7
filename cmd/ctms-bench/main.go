// Command ctms-bench measures the CTMS service against its ceiling (`make bench`).
//
// In one run on one machine it: builds bin/ctms; starts a private PostgreSQL server
// (initdb in a temporary directory, binaries from scripts/pgbin.sh, pg_stat_statements
// loaded); migrates a database with `bin/ctms migrate` and seeds it with COPY (the
// contacts' ids and e-mails are derived from their index, see seed.go); creates an API
// client with `bin/ctms clients create` and starts `bin/ctms serve` on loopback; issues
// a real POST /token; then, for each operation, drives the service with wrk (a Lua
// script per operation, wrk.go and ops.go) and the ceiling with pgbench (the fixed SQL
// of ceiling.go, -M prepared) at the same concurrency, on the same data. Around each
// measured run it reads /proc (the CPU of the service, of PostgreSQL's processes, of the
// load generator and of the whole machine) and pg_stat_statements. It prints one table
// and writes it, with the machine description and the statement statistics, into
// docs/performance.md between the ctms-bench markers.
//
// With BENCH_BASELINE set to a git ref, the same run also measures that ref's server
// (baseline.go): its cmd/ctms is built from `git archive` of the ref in a temporary
// directory (with the ref's own go.mod), migrates a second database of the same private
// PostgreSQL server with its own `ctms migrate` (so each binary runs on the schema it
// knows), which is seeded identically and gets its own API client. For each operation the
// ceiling runs once, then the baseline and the current server in turn, BENCH_ROUNDS times;
// the table has a row per server and round, with the change of the ratio and of the CPU
// per request from the baseline to the current code. Only figures of one run are
// comparable on a shared machine: this is how to compare two versions.
//
// Settings (environment):
//
//	BENCH_CONTACTS         contacts that reads and updates use (default 100000)
//	BENCH_DURATION         measured time per operation and side, whole seconds (default 5s)
//	BENCH_WARMUP           unmeasured warm-up before each (default 1s; 0 skips; never for DELETE)
//	BENCH_CONCURRENCY      connections of wrk and pgbench (default 64)
//	BENCH_THREADS          wrk threads and pgbench threads (default 2)
//	BENCH_OPS              comma-separated operation keys to run (default all; see -list)
//	BENCH_DELETE_CONTACTS  extra contacts seeded for DELETE, per side (default 12000 per
//	                       second of BENCH_DURATION)
//	BENCH_OUTPUT           markdown file to update (default docs/performance.md; "-" for none)
//	BENCH_KEEP_DB          1 leaves the PostgreSQL server running (its URL is printed)
//	BENCH_BASELINE         a git ref (commit, branch, tag) to measure against the working tree
//	                       in the same run (default none: the working tree alone)
//	BENCH_ROUNDS           with BENCH_BASELINE: how many times each operation runs the
//	                       baseline and then the current server (default 1; more shows the noise)
//
// The server inherits the environment (so CTMS_DB_POOL_SIZE and friends apply), with
// HOST, PORT, CTMS_DB_URL, CTMS_SECRET_KEY, CTMS_USE_MOZLOG=false and
// CTMS_LOGGING_LEVEL=WARNING set by the benchmark. wrk must be installed
// (scripts/bench-deps.sh, which `make bench` runs, installs it).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-list" || os.Args[1] == "--list") {
		for _, op := range operationList() {
			fmt.Printf("%-14s %s\n", op.key, op.name)
		}
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: ctms-bench [-list]   (settings come from BENCH_* variables; see `go doc ./cmd/ctms-bench`)")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ctms-bench:", err)
		os.Exit(1)
	}
}

// config is the benchmark's settings.
type config struct {
	contacts    int
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	threads     int
	deletes     int
	ops         map[string]bool // nil: all
	output      string
	keep        bool
	baseline    string // git ref of the baseline ("": the current code alone)
	rounds      int    // baseline-then-current runs per operation (1 without a baseline)
}

func loadConfig() (config, error) {
	c := config{contacts: 100000, duration: 5 * time.Second, warmup: time.Second, concurrency: 64, threads: 2,
		output: "docs/performance.md", rounds: 1}
	var err error
	intVar := func(name string, p *int, minimum int) {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" && err == nil {
			n, e := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
			if e != nil || n < minimum {
				err = fmt.Errorf("%s=%q: want an integer ≥ %d", name, v, minimum)
				return
			}
			*p = n
		}
	}
	// Whole seconds: pgbench -T takes nothing finer, and both sides measure the same time.
	secondsVar := func(name string, p *time.Duration, minimum time.Duration) {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" && err == nil {
			d, e := time.ParseDuration(v)
			if e != nil {
				n, e2 := strconv.Atoi(v)
				d, e = time.Duration(n)*time.Second, e2
			}
			if e != nil || d < minimum || d%time.Second != 0 {
				err = fmt.Errorf("%s=%q: want whole seconds ≥ %s, such as 5s", name, v, minimum)
				return
			}
			*p = d
		}
	}
	intVar("BENCH_CONTACTS", &c.contacts, 1000)
	intVar("BENCH_CONCURRENCY", &c.concurrency, 1)
	intVar("BENCH_THREADS", &c.threads, 1)
	secondsVar("BENCH_DURATION", &c.duration, time.Second)
	secondsVar("BENCH_WARMUP", &c.warmup, 0)
	c.deletes = 12000 * int(c.duration/time.Second)
	intVar("BENCH_DELETE_CONTACTS", &c.deletes, 100)
	intVar("BENCH_ROUNDS", &c.rounds, 1)
	if err != nil {
		return c, err
	}
	c.baseline = strings.TrimSpace(os.Getenv("BENCH_BASELINE"))
	if c.baseline == "" && c.rounds != 1 {
		return c, errors.New("BENCH_ROUNDS: rounds compare a baseline with the current code; set BENCH_BASELINE too")
	}
	c.threads = min(c.threads, c.concurrency)
	if v := os.Getenv("BENCH_OPS"); v != "" {
		known := map[string]bool{}
		for _, op := range operationList() {
			known[op.key] = true
		}
		c.ops = map[string]bool{}
		for f := range strings.SplitSeq(v, ",") {
			k := strings.TrimSpace(f)
			if !known[k] {
				return c, fmt.Errorf("BENCH_OPS: unknown operation %q (ctms-bench -list shows them)", k)
			}
			c.ops[k] = true
		}
	}
	if v, ok := os.LookupEnv("BENCH_OUTPUT"); ok {
		c.output = v
	}
	c.keep = os.Getenv("BENCH_KEEP_DB") == "1"
	return c, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ctms-bench: "+format+"\n", args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cleanups runs deferred teardown steps in reverse order, once.
type cleanups struct{ fns []func() }

func (c *cleanups) add(fn func()) { c.fns = append(c.fns, fn) }

func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}
