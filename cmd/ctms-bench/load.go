package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/auth"
)

// errExhausted ends a run early: the operation has no more targets (DELETE).
var errExhausted = errors.New("no more targets")

// worker is one closed-loop client: it sends its next request when the previous
// answer has been read.
type worker struct {
	r   *rand.Rand
	buf bytes.Buffer
}

// runResult is one measured run of one operation at one concurrency.
type runResult struct {
	n, errs    int
	firstErr   string
	elapsed    time.Duration
	p50, p99   time.Duration
	rps        float64
	cpuPer1k   float64 // server CPU seconds per 1,000 requests; <0: not measured
	clientCPU  float64 // the benchmark process's own CPU seconds per 1,000 requests
	peakRSS    int64   // server VmHWM during the run, bytes; <0: not measured
	peakIsLife bool    // the kernel refused to reset VmHWM: it is the lifetime peak
	cut        bool    // stopped before the end: targets exhausted
}

// loop runs fn from conc workers for d and returns the latencies of the successes.
func loop(ctx context.Context, conc int, d time.Duration, fn opFunc) (lat []time.Duration, n, errs int, firstErr string, elapsed time.Duration, cut bool) {
	var (
		mu       sync.Mutex
		all      = make([][]time.Duration, conc)
		errCount atomic.Int64
		cutFlag  atomic.Bool
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := range conc {
		wg.Go(func() {
			w := &worker{r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))} // #nosec G115 G404 -- seeds of synthetic load
			mine := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil && time.Now().Before(deadline) && !cutFlag.Load() {
				t0 := time.Now()
				err := fn(ctx, w)
				took := time.Since(t0)
				switch {
				case err == nil:
					mine = append(mine, took)
				case errors.Is(err, errExhausted):
					cutFlag.Store(true)
				case ctx.Err() != nil:
				default:
					if errCount.Add(1) == 1 {
						mu.Lock()
						firstErr = err.Error()
						mu.Unlock()
					}
				}
			}
			all[i] = mine
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, l := range all {
		lat = append(lat, l...)
	}
	return lat, len(lat), int(errCount.Load()), firstErr, elapsed, cutFlag.Load()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// measure warms up, then measures fn at conc; with a server, also its CPU and peak RSS.
func measure(ctx context.Context, cfg config, conc int, fn opFunc, srv *serverProc) runResult {
	if cfg.warmup > 0 {
		loop(ctx, conc, cfg.warmup, fn)
	}
	res := runResult{cpuPer1k: -1, peakRSS: -1}
	var cpu0 float64
	var cpuErr error
	if srv != nil {
		res.peakIsLife = !resetPeakRSS(srv.pid())
		cpu0, cpuErr = cpuSeconds(srv.pid())
	}
	self0, selfErr := cpuSeconds(os.Getpid())
	lat, n, errs, firstErr, elapsed, cut := loop(ctx, conc, cfg.duration, fn)
	if self1, err := cpuSeconds(os.Getpid()); err == nil && selfErr == nil && n+errs > 0 {
		res.clientCPU = (self1 - self0) / float64(n+errs) * 1000
	}
	if srv != nil && cpuErr == nil {
		if cpu1, err := cpuSeconds(srv.pid()); err == nil && n+errs > 0 {
			res.cpuPer1k = (cpu1 - cpu0) / float64(n+errs) * 1000
		}
		if rss, err := peakRSS(srv.pid()); err == nil {
			res.peakRSS = rss
		}
	}
	slices.Sort(lat)
	res.n, res.errs, res.firstErr, res.elapsed, res.cut = n, errs, firstErr, elapsed, cut
	res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if elapsed > 0 {
		res.rps = float64(n) / elapsed.Seconds()
	}
	return res
}

// bench is what the operations need: the seeded data, the server, the ceiling pool.
type bench struct {
	cfg      config
	seed     uint64
	tag      string
	n        int // seeded contacts
	readable int // contacts [0, readable) are read and updated; the rest are deleted
	base     string
	authz    string
	client   *http.Client
	pool     *pgxpool.Pool
	postSeq  atomic.Int64
	deletes  emailQueue
	updates  updatesSetup
}

// emailQueue hands out contacts to delete, each once.
type emailQueue struct {
	mu     sync.Mutex
	emails []string
	next   int
}

func (q *emailQueue) push(email string) {
	q.mu.Lock()
	q.emails = append(q.emails, email)
	q.mu.Unlock()
}

func (q *emailQueue) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next >= len(q.emails) {
		return "", false
	}
	e := q.emails[q.next]
	q.emails[q.next] = ""
	q.next++
	return e, true
}

// readableIndex is a random contact that reads and updates may use.
func (b *bench) readableIndex(w *worker) int { return w.r.IntN(b.readable) }

// do sends one request and reads the whole answer; any status but want is an error.
func (b *bench) do(ctx context.Context, method, path string, body []byte, want int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.authz)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // fully read: a close error changes nothing
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		if len(data) > 300 {
			data = data[:300]
		}
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	return nil
}

// entry is one line of the report: an operation at a concurrency, service and ceiling.
type entry struct {
	op       operation
	conc     int
	contacts int
	scaling  bool // the small-database comparison
	service  runResult
	ceiling  runResult
}

// runSuite starts the server on d and measures the operations; scalingOnly runs just the
// lookups at the first concurrency (the small-database comparison).
func runSuite(ctx context.Context, cfg config, bin string, d *database, secretKey, clientID string,
	n int, seed uint64, tag string, rep *report, scalingOnly bool) error {
	srv, err := startServer(ctx, bin, d.url, secretKey)
	if err != nil {
		return err
	}
	defer srv.stop()
	logf("server pid %d on %s (%d contacts)", srv.pid(), srv.base, n)

	token, err := auth.MintToken(secretKey, clientID, 24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	maxConc := slices.Max(cfg.concurrencies)
	pc, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return err
	}
	pc.MaxConns = int32(min(maxConc, cfg.ceilingConns)) // #nosec G115 -- a handful of benchmark connections
	pc.MinConns = pc.MaxConns
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.RuntimeParams["application_name"] = "ctms-bench-ceiling"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer pool.Close()

	b := &bench{cfg: cfg, seed: seed, tag: tag, n: n, base: srv.base, authz: "Bearer " + token, pool: pool,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 2 * maxConc, MaxIdleConnsPerHost: 2 * maxConc, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true,
		}}}
	defer b.client.CloseIdleConnections()
	reserve := min(n/5, 50000)
	if scalingOnly {
		reserve = 0
	}
	b.readable = n - reserve
	for i := b.readable; i < n; i++ {
		b.deletes.push(contactEmail(seed, i))
	}
	if err := b.setupUpdates(ctx); err != nil {
		return err
	}

	concs := cfg.concurrencies
	if scalingOnly {
		concs = concs[:1]
	}
	var ops []operation
	for _, op := range operationList() {
		if (cfg.ops == nil || cfg.ops[op.key]) && (!scalingOnly || op.scaling) && op.usable(b) {
			ops = append(ops, op)
		}
	}
	total := len(ops) * len(concs)
	k := 0
	for _, op := range ops {
		for _, conc := range concs {
			k++
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e := entry{op: op, conc: conc, contacts: n, scaling: scalingOnly}
			e.service = measure(ctx, cfg, conc, op.service(b), srv)
			e.ceiling = measure(ctx, cfg, conc, op.ceiling(b), nil)
			rep.entries = append(rep.entries, e)
			logf("[%d/%d] %-30s c=%-3d %d contacts: service %7.0f req/s p50 %6.2f ms p99 %7.2f ms err %d | ceiling %7.0f req/s p50 %6.2f ms err %d | ratio %.2f",
				k, total, op.name, conc, n, e.service.rps, ms(e.service.p50), ms(e.service.p99), e.service.errs,
				e.ceiling.rps, ms(e.ceiling.p50), e.ceiling.errs, ratio(e.service.rps, e.ceiling.rps))
			for side, r := range map[string]runResult{"service": e.service, "ceiling": e.ceiling} {
				if r.firstErr != "" {
					logf("    first %s error: %s", side, r.firstErr)
				}
				if r.cut {
					logf("    %s run stopped early: no more contacts to delete", side)
				}
			}
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// newPostEmail is a fresh address for a created contact.
func (b *bench) newPostEmail() string {
	return fmt.Sprintf("bench.post.%s.%d@example.org", b.tag, b.postSeq.Add(1))
}

func newID() uuid.UUID { return uuid.New() }
