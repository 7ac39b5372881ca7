// Command ctms-bench measures the CTMS service against its ceiling (`make bench`).
//
// It provisions a fresh database the way the tests do, migrates it with `bin/ctms
// migrate`, seeds N contacts with COPY, starts `bin/ctms serve` as a separate process on
// loopback and drives it with a closed-loop load generator at each concurrency. For every
// operation it also runs the ceiling: the minimal SQL producing the same data, issued
// through a pgx pool at the same concurrency with no HTTP and no JSON. It prints one
// table (throughput, latency, errors, ratio to the ceiling, server CPU per 1,000 requests,
// peak RSS) and writes it, with the machine description, into docs/performance.md
// between the ctms-bench markers.
//
// Settings (environment):
//
//	BENCH_CONTACTS        contacts to seed (default 200000; 1000000 for the full run)
//	BENCH_SMALL_CONTACTS  contacts of the second, small database for the lookup-scaling
//	                      comparison (default 10000; 0 skips it)
//	BENCH_DURATION        measured time per operation and concurrency (default 5s)
//	BENCH_WARMUP          unmeasured warm-up before each of them (default 1s)
//	BENCH_CONCURRENCY     comma-separated concurrencies (default 16,64)
//	BENCH_OPS             comma-separated operation keys to run (default all; see -list)
//	BENCH_CEILING_CONNS   ceiling pool size cap (default 32; the pool has min(cap, concurrency))
//	BENCH_OUTPUT          markdown file to update (default docs/performance.md; "-" for none)
//	BENCH_KEEP_DB         1 keeps the databases (their URLs are printed)
//	CTMS_BENCH_DB_URL     admin URL of the PostgreSQL server to use; else CTMS_TEST_DB_URL,
//	                      else 127.0.0.1:5432 as postgres when it answers, else scripts/pg.sh
//
// The server inherits the environment (so CTMS_DB_POOL_SIZE and friends apply), with
// HOST, PORT, CTMS_DB_URL, CTMS_SECRET_KEY, CTMS_USE_MOZLOG=false and
// CTMS_LOGGING_LEVEL=WARNING set by the benchmark.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	contacts      int
	smallContacts int
	duration      time.Duration
	warmup        time.Duration
	concurrencies []int
	ops           map[string]bool // nil: all
	ceilingConns  int
	output        string
	keepDB        bool
	updatesDepth  int
	updatesLimit  int
}

func loadConfig() (config, error) {
	c := config{contacts: 200000, smallContacts: 10000, duration: 5 * time.Second, warmup: time.Second,
		concurrencies: []int{16, 64}, ceilingConns: 32, output: "docs/performance.md",
		updatesDepth: 10000, updatesLimit: 100}
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
	durVar := func(name string, p *time.Duration) {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" && err == nil {
			d, e := time.ParseDuration(v)
			if e != nil { // plain seconds
				f, e2 := strconv.ParseFloat(v, 64)
				if e2 != nil {
					err = fmt.Errorf("%s=%q: want a duration such as 5s", name, v)
					return
				}
				d = time.Duration(f * float64(time.Second))
			}
			if d < 0 {
				err = fmt.Errorf("%s=%q: negative", name, v)
				return
			}
			*p = d
		}
	}
	intVar("BENCH_CONTACTS", &c.contacts, 1000)
	intVar("BENCH_SMALL_CONTACTS", &c.smallContacts, 0)
	intVar("BENCH_CEILING_CONNS", &c.ceilingConns, 1)
	durVar("BENCH_DURATION", &c.duration)
	durVar("BENCH_WARMUP", &c.warmup)
	if err != nil {
		return c, err
	}
	if c.duration <= 0 {
		return c, errors.New("BENCH_DURATION must be positive")
	}
	if v := os.Getenv("BENCH_CONCURRENCY"); v != "" {
		c.concurrencies = nil
		for f := range strings.SplitSeq(v, ",") {
			n, e := strconv.Atoi(strings.TrimSpace(f))
			if e != nil || n < 1 {
				return c, fmt.Errorf("BENCH_CONCURRENCY=%q: want positive integers separated by commas", v)
			}
			c.concurrencies = append(c.concurrencies, n)
		}
	}
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
	c.keepDB = os.Getenv("BENCH_KEEP_DB") == "1"
	if c.smallContacts >= c.contacts {
		c.smallContacts = 0 // nothing to compare
	}
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

func run() error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	started := time.Now()
	logf("building bin/ctms")
	bin, err := buildServer(ctx, root)
	if err != nil {
		return err
	}
	admin, err := adminURL(ctx, root)
	if err != nil {
		return err
	}
	logf("PostgreSQL server: %s", redactURL(admin))

	secretKey := "bench-" + randomHex(24)
	tag := randomHex(4)
	cleanup := &cleanups{}
	defer cleanup.run()

	large, err := provision(ctx, admin, "ctms_bench_"+tag, bin, secretKey, cleanup, cfg.keepDB)
	if err != nil {
		return err
	}
	var small *database
	if cfg.smallContacts > 0 {
		if small, err = provision(ctx, admin, "ctms_bench_"+tag+"_small", bin, secretKey, cleanup, cfg.keepDB); err != nil {
			return err
		}
	}

	const seed = 0x6374_6d73 // "ctms": the same contacts in every run
	t0 := time.Now()
	if err := seedContacts(ctx, large.url, cfg.contacts, seed); err != nil {
		return fmt.Errorf("seed %d contacts: %w", cfg.contacts, err)
	}
	logf("seeded %d contacts in %s", cfg.contacts, time.Since(t0).Round(100*time.Millisecond))
	if small != nil {
		if err := seedContacts(ctx, small.url, cfg.smallContacts, seed); err != nil {
			return fmt.Errorf("seed %d contacts: %w", cfg.smallContacts, err)
		}
	}
	clientID := "ctms-bench"
	for _, d := range []*database{large, small} {
		if d != nil {
			if err := createAdminClient(ctx, d.url, clientID); err != nil {
				return err
			}
		}
	}
	machine, err := describeMachine(ctx, large.url)
	if err != nil {
		return err
	}

	rep := &report{cfg: cfg, machine: machine, started: started}
	// The main run: every operation at every concurrency, service then ceiling.
	if err := runSuite(ctx, cfg, bin, large, secretKey, clientID, cfg.contacts, seed, tag, rep, false); err != nil {
		return err
	}
	// The lookup-scaling comparison on the small database.
	if small != nil && ctx.Err() == nil {
		if err := runSuite(ctx, cfg, bin, small, secretKey, clientID, cfg.smallContacts, seed, tag+"s", rep, true); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.finished = time.Now()
	text := rep.markdown()
	fmt.Println()
	fmt.Println(text)
	if cfg.output != "-" && cfg.output != "" {
		path := cfg.output
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := writeReport(path, text); err != nil {
			return err
		}
		logf("wrote %s", cfg.output)
	}
	return nil
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
