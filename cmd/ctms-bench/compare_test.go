package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundsNeedABaseline(t *testing.T) {
	t.Setenv("BENCH_ROUNDS", "3")
	t.Setenv("BENCH_BASELINE", "")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "BENCH_BASELINE") {
		t.Fatalf("BENCH_ROUNDS alone: err = %v, want one naming BENCH_BASELINE", err)
	}
	t.Setenv("BENCH_BASELINE", "HEAD~1")
	c, err := loadConfig()
	if err != nil || c.baseline != "HEAD~1" || c.rounds != 3 {
		t.Fatalf("loadConfig = %+v, %v; want baseline HEAD~1, 3 rounds", c, err)
	}
}

func TestFmtChange(t *testing.T) {
	for _, tc := range []struct {
		cur, base float64
		want      string
	}{
		{80, 100, "−20 (−20 %)"},
		{130, 100, "+30 (+30 %)"},
		{100, 100, "±0 (±0 %)"},
		{-1, 100, "n/a"},
		{100, -1, "n/a"},
	} {
		if got := fmtChange(tc.cur, tc.base); got != tc.want {
			t.Errorf("fmtChange(%v, %v) = %q, want %q", tc.cur, tc.base, got, tc.want)
		}
	}
}

// fakeRun is a measured service run: done requests at rate per second, with server and
// PostgreSQL CPU seconds.
func fakeRun(done int, rate, server, postgres float64, peakRSS int64) serviceRun {
	return serviceRun{side: side{load: loadResult{done: done, rate: rate}, cpu: cpuSplit{server: server, postgres: postgres, ok: true}},
		peakRSS: peakRSS}
}

func TestComparisonRowsAndChanges(t *testing.T) {
	op := operationList()[0]
	ceiling := side{load: loadResult{done: 2000, rate: 1000}, cpu: cpuSplit{postgres: 0.2, ok: true}}
	rounds := []round{
		// ratios 0.50 → 0.60, server 100 → 80 µs/req, PG 200 → 150 µs/req
		{baseline: fakeRun(1000, 500, 0.1, 0.2, 90<<20), current: fakeRun(1000, 600, 0.08, 0.15, 95<<20)},
		// ratios 0.50 → 0.70, server 100 → 60 µs/req, PG 200 → 250 µs/req
		{baseline: fakeRun(1000, 500, 0.1, 0.2, 90<<20), current: fakeRun(1000, 700, 0.06, 0.25, 95<<20)},
	}
	r := &report{cfg: config{rounds: 2}, started: time.Now(), finished: time.Now(),
		current:  &service{label: "current", rssBeforeToken: 30 << 20, rssAfterToken: 95 << 20},
		baseline: &service{label: "baseline", rssBeforeToken: 31 << 20, rssAfterToken: 90 << 20},
		entries: []entry{{op: op, ceiling: ceiling, service: rounds[1].current.side, peakRSS: rounds[1].current.peakRSS,
			rounds: rounds}}}
	got := r.comparison()
	for _, want := range []string{
		"| " + op.name + " | baseline 1 | 500 | 1000 | **0.50** |  | 100 |  | 200 | 100 | 2.00 |  |",
		"|  | current 1 | 600 | 1000 | **0.60** | +0.10 | 80 | −20 (−20 %) | 150 | 100 | 1.50 | −50 (−25 %) |",
		"|  | current 2 | 700 | 1000 | **0.70** | +0.20 | 60 | −40 (−40 %) | 250 | 100 | 2.50 | +50 (+25 %) |",
		"| | **Δ, mean of 2** | | | | **+0.15** | | **−30 (−30 %)** | | | | **±0 (±0 %)** |",
		"The baseline server's RSS before its first POST /token: 31.0 MB; peak right after it: 90.0 MB.",
		"The current server's RSS before its first POST /token: 30.0 MB",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comparison lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "| 95.0 |"); n != 2 {
		t.Errorf("current rows with peak RSS 95.0 MB: %d, want 2:\n%s", n, got)
	}
	sides := r.entries[0].statementSides()
	if len(sides) != 3 || sides[0].label != "baseline" || sides[1].label != "current" || sides[2].label != "ceiling" {
		t.Errorf("statementSides = %+v, want baseline, current, ceiling", sides)
	}
}

// The baseline's source is the commit's tree, go.mod included, without the working
// tree's changes.
func TestExtractTree(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	commit, err := gitOutput(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := t.TempDir()
	if err := extractTree(ctx, root, commit, dir); err != nil {
		t.Fatal(err)
	}
	want, err := gitOutput(ctx, root, "show", commit+":go.mod")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || strings.TrimSpace(string(got)) != want {
		t.Fatalf("go.mod of the extracted tree = %q, %v; want the commit's", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "ctms", "main.go")); err != nil {
		t.Fatal(err)
	}
	if _, err := buildBaseline(ctx, root, "no-such-ref-"+randomHex(4)); err == nil || !strings.Contains(err.Error(), "not a commit") {
		t.Fatalf("buildBaseline of an unknown ref: %v, want 'not a commit'", err)
	}
}
