package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/auth"
)

const (
	benchDB         = "ctms_bench"
	benchBaselineDB = "ctms_bench_baseline"
	benchCeilingDB  = "ctms_bench_ceiling"
	clientID        = "id_ctms_bench"
	dataSeed        = 0x6374_6d73 // "ctms": the same contacts in every run
)

// side is one measured run: its load, CPU split and statements.
type side struct {
	load  loadResult
	cpu   cpuSplit
	stmts stmtStats
}

// perOp divides seconds of CPU by the requests completed in the CPU window, in µs (-1: unknown).
func (s side) perOp(seconds float64) float64 {
	n := s.load.done - s.load.skipped
	if !s.cpu.ok || n <= 0 {
		return -1
	}
	return seconds / float64(n) * 1e6
}

// serviceRun is one measured run of a server and its VmHWM at the end (lifetime peak, bytes).
type serviceRun struct {
	side
	peakRSS int64
}

// round is one baseline run followed by one current run of an operation.
type round struct{ baseline, current serviceRun }

// entry is one line of the report (in comparison mode, a group of lines).
type entry struct {
	op      operation
	service side // the current code's run (its last round when comparing)
	ceiling side
	peakRSS int64   // the current server's VmHWM at the end of that run, bytes
	rounds  []round // BENCH_BASELINE only, in the order they ran
}

// benchDatabase is one database of the private server: migrated by a ctms binary,
// seeded like the others, with its statement statistics.
type benchDatabase struct {
	db, dbURL string
	stats     *pgss
}

// service is one build of the CTMS server under load: its binary, its database
// (migrated by that binary), its process and its token.
type service struct {
	label string // "current" or "baseline"
	bin   string
	benchDatabase
	clientSecret   string
	srv            *serverProc
	token          string // the bearer token of the load
	rssBeforeToken int64
	rssAfterToken  int64
}

// env is what the measured runs share.
type env struct {
	cfg        config
	current    *service
	baseline   *service       // nil unless BENCH_BASELINE is set
	ceiling    *benchDatabase // pgbench's: the current code's, or with a baseline its own
	postmaster int
	pgbench    string
	scripts    string // temporary directory of the Lua and pgbench scripts
	wrk        wrkParams
	pgb        pgbenchParams
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
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: run scripts/bench-deps.sh (make bench does), or apt-get install wrk")
	}
	started := time.Now()
	cleanup := &cleanups{}
	defer cleanup.run()
	logf("building bin/ctms")
	bin, err := buildServer(ctx, root)
	if err != nil {
		return err
	}
	var base *baselineBuild
	if cfg.baseline != "" {
		if base, err = buildBaseline(ctx, root, cfg.baseline); err != nil {
			return err
		}
		cleanup.add(base.remove)
	}
	bindir, err := pgBinDir(ctx, root)
	if err != nil {
		return err
	}

	scripts, err := os.MkdirTemp("", "ctms-bench-scripts-")
	if err != nil {
		return err
	}
	cleanup.add(func() {
		if cfg.keep {
			logf("kept the wrk and pgbench scripts: %s", scripts)
		} else {
			_ = os.RemoveAll(scripts) // temporary files: nothing to report
		}
	})
	// 100,000 contacts' rows and indexes take about 160 MB: one database's fit in 256 MB,
	// the baseline's, the current one's and the ceiling's in 768 MB.
	sharedBuffers := "256MB"
	if base != nil {
		sharedBuffers = "768MB"
	}
	pg, err := startPG(ctx, bindir, sharedBuffers)
	if err != nil {
		return err
	}
	cleanup.add(func() { pg.stop(cfg.keep) })
	logf("private PostgreSQL server on 127.0.0.1:%d (%s)", pg.port, pg.dir)

	secretKey := "bench-" + randomHex(24)
	// Contacts [0, contacts) are read and updated; then one range of DELETE per measured
	// run on a database: a service's rounds, then (single-binary mode, where pgbench
	// shares the service's database) the ceiling's. With a baseline the ceiling has a
	// database of its own, and its one run takes the first range there.
	ceilingDelBase := cfg.contacts + cfg.rounds*cfg.deletes
	total := ceilingDelBase + cfg.deletes
	if base != nil {
		ceilingDelBase, total = cfg.contacts, cfg.contacts+cfg.rounds*cfg.deletes
	}
	cur, err := prepareService(ctx, pg, "current", bin, benchDB, secretKey, total)
	if err != nil {
		return err
	}
	defer cur.stats.close()
	ceilingDB := &cur.benchDatabase
	var bl *service
	if base != nil {
		if bl, err = prepareService(ctx, pg, "baseline", base.bin, benchBaselineDB, secretKey, total); err != nil {
			return err
		}
		defer bl.stats.close()
		// Each side sees only its own writes (rows POST and PUT add, dead rows, the
		// contacts DELETE takes): the ceiling's would otherwise age the current code's
		// database alone. Migrated by the current binary: the schema the ceiling SQL knows.
		if ceilingDB, err = prepareDatabase(ctx, pg, "ceiling", bin, benchCeilingDB, secretKey, total); err != nil {
			return err
		}
		defer ceilingDB.stats.close()
	}
	pgbench := filepath.Join(bindir, "pgbench")
	mach, err := describeMachine(ctx, cur.dbURL, pgbench)
	if err != nil {
		return err
	}
	postmaster, err := pg.postmasterPID()
	if err != nil {
		return err
	}

	if err := cur.start(ctx, secretKey); err != nil {
		return err
	}
	defer cur.srv.stop()
	// The current server's load uses a token minted with the secret key (as /token would
	// issue it); the baseline's, the one its own /token issued (a ref's tokens may differ).
	if cur.token, err = auth.MintToken(secretKey, clientID, 24*time.Hour, time.Now()); err != nil {
		return err
	}
	rep := &report{cfg: cfg, machine: mach, started: started, current: cur}
	if bl != nil {
		if err := bl.start(ctx, secretKey); err != nil {
			return err
		}
		defer bl.srv.stop()
		cur.srv.label, bl.srv.label = cur.label, bl.label // their logs are told apart
		rep.baseline, rep.baselineCode, rep.currentCode = bl, base.describe(), describeWorkingTree(ctx, root)
		// All three start alike: vacuumed and analysed after everything written before
		// the measured runs (the seeds, the API clients, the tokens).
		for _, db := range []*benchDatabase{&bl.benchDatabase, &cur.benchDatabase, ceilingDB} {
			if err := vacuumAnalyze(ctx, db.dbURL); err != nil {
				return fmt.Errorf("%s: %w", db.db, err)
			}
		}
	}

	e := &env{cfg: cfg, current: cur, baseline: bl, ceiling: ceilingDB, postmaster: postmaster, pgbench: pgbench, scripts: scripts,
		wrk: wrkParams{readable: cfg.contacts, threads: cfg.threads, delSize: cfg.deletes},
		pgb: pgbenchParams{readable: cfg.contacts, postBase: 1 << 40, delBase: ceilingDelBase,
			delSize: cfg.deletes, clients: cfg.concurrency}}
	var ops []operation
	for _, op := range operationList() {
		if cfg.ops == nil || cfg.ops[op.key] {
			ops = append(ops, op)
		}
	}
	for k, op := range ops {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ent, err := e.measure(ctx, op)
		if err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		rep.entries = append(rep.entries, ent)
		logEntry(k, len(ops), ent)
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

// prepareService prepares database db with bin (prepareDatabase) and creates the
// benchmark's API client in it.
func prepareService(ctx context.Context, pg *pgServer, label, bin, db, secretKey string, contacts int) (*service, error) {
	d, err := prepareDatabase(ctx, pg, label, bin, db, secretKey, contacts)
	if err != nil {
		return nil, err
	}
	s := &service{label: label, bin: bin, benchDatabase: *d}
	if s.clientSecret, err = createAdminClient(ctx, bin, s.dbURL, secretKey, clientID); err != nil {
		d.stats.close()
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return s, nil
}

// prepareDatabase creates database db, migrates it with bin, seeds it and opens its
// statement statistics.
func prepareDatabase(ctx context.Context, pg *pgServer, label, bin, db, secretKey string, contacts int) (*benchDatabase, error) {
	d := &benchDatabase{db: db}
	var err error
	if d.dbURL, err = createDatabase(ctx, pg, db, bin, secretKey); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	t0 := time.Now()
	if err := seedContacts(ctx, d.dbURL, contacts, dataSeed); err != nil {
		return nil, fmt.Errorf("%s: seed %d contacts: %w", label, contacts, err)
	}
	logf("%s: seeded %d contacts in %s", db, contacts, time.Since(t0).Round(100*time.Millisecond))
	if d.stats, err = openPGSS(ctx, pg.url("postgres"), db); err != nil {
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	return d, nil
}

// start runs the service's server and sends it a real POST /token (its token is the
// service's until the caller sets another).
func (s *service) start(ctx context.Context, secretKey string) error {
	var err error
	if s.srv, err = startServer(ctx, s.bin, s.dbURL, secretKey); err != nil {
		return fmt.Errorf("%s: %w", s.label, err)
	}
	s.rssBeforeToken, _ = statusBytes(s.srv.pid(), "VmRSS") // 0 when unreadable: the report says n/a
	if s.token, err = issueToken(ctx, s.srv.base, clientID, s.clientSecret); err != nil {
		return fmt.Errorf("%s: %w", s.label, err)
	}
	s.rssAfterToken, _ = statusBytes(s.srv.pid(), "VmHWM")
	logf("%s: POST /token answered; server RSS %s MB before, peak %s MB after", s.label, fmtMB(s.rssBeforeToken), fmtMB(s.rssAfterToken))
	return nil
}

// logEntry prints one operation's figures as they come.
func logEntry(k, n int, ent entry) {
	c := ent.ceiling
	line := func(label string, s side) {
		logf("[%d/%d] %-30s %-8s %7.0f req/s (p50 %.2f ms, %d errors) | ceiling %7.0f tx/s (%d errors) | ratio %.2f | server %.0f µs/req, PG %.0f vs %.0f µs",
			k+1, n, ent.op.name, label, s.load.rate, ms(s.load.p50), s.load.errors, c.load.rate, c.load.errors,
			ratio(s.load.rate, c.load.rate), s.perOp(s.cpu.server), s.perOp(s.cpu.postgres), c.perOp(c.cpu.postgres))
		if s.load.firstErr != "" {
			logf("    first %s error: %s", label, s.load.firstErr)
		}
	}
	if len(ent.rounds) == 0 {
		line("service", ent.service)
	}
	for _, r := range ent.rounds {
		line("baseline", r.baseline.side)
		line("current", r.current.side)
	}
	if c.load.firstErr != "" {
		logf("    first ceiling error: %s", c.load.firstErr)
	}
}

// measure runs op: without a baseline, the service with wrk then the ceiling with
// pgbench; with one, the ceiling (on its own database), then the baseline and the
// current server in turn, cfg.rounds times (the current one first in every other round).
func (e *env) measure(ctx context.Context, op operation) (entry, error) {
	ent := entry{op: op}
	sqlPath := filepath.Join(e.scripts, op.key+".sql")
	if err := os.WriteFile(sqlPath, []byte(op.pgbench), 0o600); err != nil {
		return ent, err
	}
	if e.baseline == nil {
		run, err := e.measureService(ctx, op, e.current, 0)
		if err != nil {
			return ent, err
		}
		ent.service, ent.peakRSS = run.side, run.peakRSS
		ent.ceiling, err = e.measureCeiling(ctx, op, sqlPath)
		return ent, err
	}
	var err error
	if ent.ceiling, err = e.measureCeiling(ctx, op, sqlPath); err != nil {
		return ent, err
	}
	for k := range e.cfg.rounds {
		var r round
		measureBaseline := func() (err error) {
			if r.baseline, err = e.measureService(ctx, op, e.baseline, k); err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			return nil
		}
		measureCurrent := func() (err error) {
			r.current, err = e.measureService(ctx, op, e.current, k)
			return err
		}
		// The order alternates: what a write run leaves behind (autovacuum, a
		// checkpoint) lands in the next run's window, the other side's as often as not.
		first, second := measureBaseline, measureCurrent
		if k%2 == 1 {
			first, second = measureCurrent, measureBaseline
		}
		if err := first(); err != nil {
			return ent, err
		}
		if err := second(); err != nil {
			return ent, err
		}
		ent.rounds = append(ent.rounds, r)
	}
	last := ent.rounds[len(ent.rounds)-1].current
	ent.service, ent.peakRSS = last.side, last.peakRSS
	return ent, nil
}

// measureService runs op's wrk load on svc (after a warm-up unless op deletes). Round k
// of DELETE takes the k-th range of contacts after the readable ones (the same in every
// database: they are seeded alike).
func (e *env) measureService(ctx context.Context, op operation, svc *service, k int) (serviceRun, error) {
	var run serviceRun
	p := e.wrk
	p.token, p.delBase = svc.token, e.cfg.contacts+k*e.cfg.deletes
	luaPath, err := writeLua(e.scripts, op.key+"-"+svc.label, op, p)
	if err != nil {
		return run, err
	}
	conns := e.cfg.concurrency
	if e.cfg.warmup > 0 && !op.deletes {
		if _, err := runWrk(ctx, svc.srv.base, luaPath, e.cfg.threads, conns, e.cfg.warmup); err != nil {
			return run, err
		}
	}
	run.side, err = e.measured(ctx, svc.srv, svc.stats, func(func(int)) (loadResult, error) {
		return runWrk(ctx, svc.srv.base, luaPath, e.cfg.threads, conns, e.cfg.duration)
	})
	if err != nil {
		return run, err
	}
	run.peakRSS, _ = statusBytes(svc.srv.pid(), "VmHWM")
	return run, nil
}

// measureCeiling runs op's pgbench script on the ceiling's database (after a warm-up
// unless op deletes). The CPU split samples the current server too (idle meanwhile).
func (e *env) measureCeiling(ctx context.Context, op operation, sqlPath string) (side, error) {
	if e.cfg.warmup > 0 && !op.deletes {
		if err := e.pgbenchRun(ctx, sqlPath, e.cfg.warmup, nil, nil); err != nil {
			return side{}, err
		}
	}
	c, err := e.measured(ctx, e.current.srv, e.ceiling.stats, func(mark func(int)) (loadResult, error) {
		var r loadResult
		return r, e.pgbenchRun(ctx, sqlPath, e.cfg.duration, mark, &r)
	})
	if err != nil {
		return c, err
	}
	if op.deletes {
		left, err := remaining(ctx, e.ceiling.dbURL, e.pgb.delBase, e.pgb.delSize)
		if err != nil {
			return c, err
		}
		c.load.exhausted = left == 0
	}
	return c, nil
}

// pgbenchRun runs the ceiling script once and moves the POST range past the indexes it
// used (each client steps through its own; none went further than done+1 steps).
func (e *env) pgbenchRun(ctx context.Context, script string, d time.Duration, mark func(int), res *loadResult) error {
	r, err := runPgbench(ctx, e.pgbench, e.ceiling.dbURL, script, e.pgb, e.cfg.threads, d, mark)
	if err != nil {
		return err
	}
	e.pgb.postBase += e.pgb.clients * (r.done + r.errors + 2)
	if res != nil {
		*res = r
	}
	return nil
}

// measured resets the statement statistics, runs one load between two CPU samples (srv,
// PostgreSQL, the machine) and reads the statistics of the load's database (stats). The
// load may call mark to start the CPU window later (it then reports the requests before
// the mark as skipped); a mark that leaves less than a third of the requests in the
// window (a 1 s run) is ignored.
func (e *env) measured(ctx context.Context, srv *serverProc, stats *pgss, load func(mark func(loadgenPID int)) (loadResult, error)) (side, error) {
	var s side
	if err := stats.reset(ctx); err != nil {
		return s, err
	}
	settle(e.postmaster)
	before := takeSample(srv.pid(), e.postmaster)
	var marked *cpuSample
	r, err := load(func(loadgenPID int) {
		m := takeSample(srv.pid(), e.postmaster)
		m.loadgen, _ = processCPU(loadgenPID) // 0 when unreadable: the window then charges it all
		marked = &m
	})
	if err != nil {
		return s, err
	}
	after := takeSample(srv.pid(), e.postmaster)
	settle(e.postmaster) // PostgreSQL's figure waits for the load's backends to be reaped
	if pgCPU, err := postgresCPU(e.postmaster); err == nil {
		after.postgres = pgCPU
	}
	if marked != nil && r.skipped*3 <= r.done*2 {
		before = *marked
	} else {
		r.skipped = 0
	}
	s.load, s.cpu = r, splitBetween(before, after, r.loadgen)
	s.stmts, err = stats.read(ctx)
	return s, err
}

// remaining counts the contacts left in [base, base+size) of database dbURL.
func remaining(ctx context.Context, dbURL string, base, size int) (int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM emails WHERE email_id BETWEEN $1 AND $2",
		contactID(base), contactID(base+size-1)).Scan(&n)
	return n, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
