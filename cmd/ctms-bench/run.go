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
	benchDB  = "ctms_bench"
	clientID = "id_ctms_bench"
	dataSeed = 0x6374_6d73 // "ctms": the same contacts in every run
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

// entry is one line of the report.
type entry struct {
	op      operation
	service side
	ceiling side
	peakRSS int64 // the server's VmHWM at the end of the service run (lifetime peak), bytes
}

// env is what the measured runs share.
type env struct {
	cfg        config
	srv        *serverProc
	postmaster int
	dbURL      string
	pgbench    string
	scripts    string // temporary directory of the Lua and pgbench scripts
	stats      *pgss
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
	logf("building bin/ctms")
	bin, err := buildServer(ctx, root)
	if err != nil {
		return err
	}
	bindir, err := pgBinDir(ctx, root)
	if err != nil {
		return err
	}
	cleanup := &cleanups{}
	defer cleanup.run()

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
	pg, err := startPG(ctx, bindir)
	if err != nil {
		return err
	}
	cleanup.add(func() { pg.stop(cfg.keep) })
	logf("private PostgreSQL server on 127.0.0.1:%d (%s)", pg.port, pg.dir)

	secretKey := "bench-" + randomHex(24)
	dbURL, err := createDatabase(ctx, pg, benchDB, bin, secretKey)
	if err != nil {
		return err
	}
	// Contacts [0, contacts) are read and updated; then one range per side for DELETE.
	total := cfg.contacts + 2*cfg.deletes
	t0 := time.Now()
	if err := seedContacts(ctx, dbURL, total, dataSeed); err != nil {
		return fmt.Errorf("seed %d contacts: %w", total, err)
	}
	logf("seeded %d contacts (%d for reads and updates, 2 × %d for DELETE) in %s",
		total, cfg.contacts, cfg.deletes, time.Since(t0).Round(100*time.Millisecond))
	secret, err := createAdminClient(ctx, bin, dbURL, secretKey, clientID)
	if err != nil {
		return err
	}
	stats, err := openPGSS(ctx, pg.url("postgres"), benchDB)
	if err != nil {
		return fmt.Errorf("pg_stat_statements: %w", err)
	}
	defer stats.close()
	pgbench := filepath.Join(bindir, "pgbench")
	mach, err := describeMachine(ctx, dbURL, pgbench)
	if err != nil {
		return err
	}
	postmaster, err := pg.postmasterPID()
	if err != nil {
		return err
	}

	srv, err := startServer(ctx, bin, dbURL, secretKey)
	if err != nil {
		return err
	}
	defer srv.stop()
	rep := &report{cfg: cfg, machine: mach, started: started}
	rep.rssBeforeToken, _ = statusBytes(srv.pid(), "VmRSS") // 0 when unreadable: the report says n/a
	if _, err := issueToken(ctx, srv.base, clientID, secret); err != nil {
		return err
	}
	rep.rssAfterToken, _ = statusBytes(srv.pid(), "VmHWM")
	logf("POST /token answered; server RSS %s MB before, peak %s MB after", fmtMB(rep.rssBeforeToken), fmtMB(rep.rssAfterToken))
	// The load itself uses a token minted with the secret key (as /token would issue it).
	token, err := auth.MintToken(secretKey, clientID, 24*time.Hour, time.Now())
	if err != nil {
		return err
	}

	e := &env{cfg: cfg, srv: srv, postmaster: postmaster, dbURL: dbURL, pgbench: pgbench, scripts: scripts, stats: stats,
		wrk: wrkParams{token: token, readable: cfg.contacts, threads: cfg.threads,
			delBase: cfg.contacts, delSize: cfg.deletes},
		pgb: pgbenchParams{readable: cfg.contacts, postBase: 1 << 40, delBase: cfg.contacts + cfg.deletes,
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
		s, c := ent.service, ent.ceiling
		logf("[%d/%d] %-30s service %7.0f req/s (p50 %.2f ms, %d errors) | ceiling %7.0f tx/s (%d errors) | ratio %.2f | server %.0f µs/req, PG %.0f vs %.0f µs",
			k+1, len(ops), op.name, s.load.rate, ms(s.load.p50), s.load.errors, c.load.rate, c.load.errors,
			ratio(s.load.rate, c.load.rate), s.perOp(s.cpu.server), s.perOp(s.cpu.postgres), c.perOp(c.cpu.postgres))
		for name, sd := range map[string]side{"service": s, "ceiling": c} {
			if sd.load.firstErr != "" {
				logf("    first %s error: %s", name, sd.load.firstErr)
			}
		}
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

// measure runs op's service side with wrk, then its ceiling with pgbench.
func (e *env) measure(ctx context.Context, op operation) (entry, error) {
	ent := entry{op: op}
	luaPath, err := writeLua(e.scripts, op, e.wrk)
	if err != nil {
		return ent, err
	}
	sqlPath := filepath.Join(e.scripts, op.key+".sql")
	if err := os.WriteFile(sqlPath, []byte(op.pgbench), 0o600); err != nil {
		return ent, err
	}
	conns := e.cfg.concurrency
	warm := e.cfg.warmup > 0 && !op.deletes

	if warm {
		if _, err := runWrk(ctx, e.srv.base, luaPath, e.cfg.threads, conns, e.cfg.warmup); err != nil {
			return ent, err
		}
	}
	ent.service, err = e.measured(ctx, func(func(int)) (loadResult, error) {
		return runWrk(ctx, e.srv.base, luaPath, e.cfg.threads, conns, e.cfg.duration)
	})
	if err != nil {
		return ent, err
	}
	ent.peakRSS, _ = statusBytes(e.srv.pid(), "VmHWM")

	if warm {
		if err := e.pgbenchRun(ctx, sqlPath, e.cfg.warmup, nil, nil); err != nil {
			return ent, err
		}
	}
	ent.ceiling, err = e.measured(ctx, func(mark func(int)) (loadResult, error) {
		var r loadResult
		return r, e.pgbenchRun(ctx, sqlPath, e.cfg.duration, mark, &r)
	})
	if err != nil {
		return ent, err
	}
	if op.deletes {
		left, err := e.remaining(ctx, e.pgb.delBase, e.pgb.delSize)
		if err != nil {
			return ent, err
		}
		ent.ceiling.load.exhausted = left == 0
	}
	return ent, nil
}

// pgbenchRun runs the ceiling script once and moves the POST range past the indexes it
// used (each client steps through its own; none went further than done+1 steps).
func (e *env) pgbenchRun(ctx context.Context, script string, d time.Duration, mark func(int), res *loadResult) error {
	r, err := runPgbench(ctx, e.pgbench, e.dbURL, script, e.pgb, e.cfg.threads, d, mark)
	if err != nil {
		return err
	}
	e.pgb.postBase += e.pgb.clients * (r.done + r.errors + 2)
	if res != nil {
		*res = r
	}
	return nil
}

// measured resets the statement statistics, runs one load between two CPU samples and
// reads the statistics. The load may call mark to start the CPU window later (it then
// reports the requests before the mark as skipped); a mark that leaves less than a third
// of the requests in the window (a 1 s run) is ignored.
func (e *env) measured(ctx context.Context, load func(mark func(loadgenPID int)) (loadResult, error)) (side, error) {
	var s side
	if err := e.stats.reset(ctx); err != nil {
		return s, err
	}
	settle(e.postmaster)
	before := takeSample(e.srv.pid(), e.postmaster)
	var marked *cpuSample
	r, err := load(func(loadgenPID int) {
		m := takeSample(e.srv.pid(), e.postmaster)
		m.loadgen, _ = processCPU(loadgenPID) // 0 when unreadable: the window then charges it all
		marked = &m
	})
	if err != nil {
		return s, err
	}
	after := takeSample(e.srv.pid(), e.postmaster)
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
	s.stmts, err = e.stats.read(ctx)
	return s, err
}

// remaining counts the contacts left in [base, base+size).
func (e *env) remaining(ctx context.Context, base, size int) (int, error) {
	conn, err := pgx.Connect(ctx, e.dbURL)
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
