package main

import (
	"fmt"
	"math"
	"strings"
)

// comparison is BENCH_BASELINE's table: per operation, a row per server and round (the
// baseline's, then the current code's with its change from that baseline), and with
// several rounds the mean change.
func (r *report) comparison() string {
	var sb strings.Builder
	sb.WriteString("| Operation | Code | req/s | Ceiling tx/s | Ratio | Δ ratio | Server µs/req | Δ server µs/req | PG µs/req | Ceiling PG µs/tx | PG ratio | Δ PG µs/req | p50 ms | p99 ms | Errors | Peak RSS MB |\n")
	sb.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	exhausted := false
	for _, e := range r.entries {
		c := e.ceiling
		pgCeil := c.perOp(c.cpu.postgres)
		name := e.op.name
		ceilingErrs := ""
		if c.load.errors > 0 {
			ceilingErrs = fmt.Sprintf(" (ceiling %d)", c.load.errors)
		}
		row := func(code string, run serviceRun, dRatio, dServer, dPG string) {
			s := run.side
			if s.load.exhausted || c.load.exhausted {
				code += " †"
				exhausted = true
			}
			pg := s.perOp(s.cpu.postgres)
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | **%.2f** | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				name, code, fmtRate(s.load.rate), fmtRate(c.load.rate), ratio(s.load.rate, c.load.rate), dRatio,
				fmtUS(s.perOp(s.cpu.server)), dServer, fmtUS(pg), fmtUS(pgCeil), fmtRatio(pg, pgCeil), dPG,
				fmtMS(s.load.p50), fmtMS(s.load.p99), fmt.Sprint(s.load.errors)+ceilingErrs, fmtMB(run.peakRSS))
			name, ceilingErrs = "", "" // once per operation
		}
		var mean roundsMean
		for k, rd := range e.rounds {
			suffix := ""
			if len(e.rounds) > 1 {
				suffix = fmt.Sprintf(" %d", k+1)
			}
			b, cur := rd.baseline.side, rd.current.side
			row("baseline"+suffix, rd.baseline, "", "", "")
			row("current"+suffix, rd.current,
				fmtSigned(ratio(cur.load.rate, c.load.rate)-ratio(b.load.rate, c.load.rate), 2),
				fmtChange(cur.perOp(cur.cpu.server), b.perOp(b.cpu.server)),
				fmtChange(cur.perOp(cur.cpu.postgres), b.perOp(b.cpu.postgres)))
			mean.add(rd, c)
		}
		if len(e.rounds) > 1 {
			fmt.Fprintf(&sb, "| | **Δ, mean of %d** | | | | **%s** | | **%s** | | | | **%s** | | | | |\n",
				len(e.rounds), fmtSigned(mean.ratio.delta(), 2), fmtChange(mean.server.values()), fmtChange(mean.pg.values()))
		}
	}
	if exhausted {
		sb.WriteString("\n† ran out of contacts to delete before the end: raise BENCH_DELETE_CONTACTS.\n")
	}
	sb.WriteString("\n*Δ*: the current code's figure less the baseline's in the same round (for CPU, also in percent of the baseline's); a higher ratio and less CPU per request are better. The ratios of both rows divide by the same ceiling run.\n")
	for _, s := range []*service{r.baseline, r.current} {
		fmt.Fprintf(&sb, "\nThe %s server's RSS before its first POST /token: %s MB; peak right after it: %s MB.", s.label,
			fmtMB(s.rssBeforeToken), fmtMB(s.rssAfterToken))
	}
	sb.WriteString(" *Peak RSS* is the server's VmHWM (lifetime peak, the token included) at the end of each run.\n")
	return sb.String()
}

// roundsMean sums the figures of an operation's rounds, baseline and current.
type roundsMean struct{ ratio, server, pg pair }

// pair accumulates a figure of the current code and of the baseline; an unknown one
// (negative) makes the mean unknown.
type pair struct {
	cur, base float64
	n         int
	unknown   bool
}

func (p *pair) add(cur, base float64) {
	if cur < 0 || base < 0 {
		p.unknown = true
	}
	p.cur, p.base, p.n = p.cur+cur, p.base+base, p.n+1
}

// values are the means, current then baseline (-1 when unknown).
func (p pair) values() (float64, float64) {
	if p.unknown || p.n == 0 {
		return -1, -1
	}
	return p.cur / float64(p.n), p.base / float64(p.n)
}

func (p pair) delta() float64 {
	cur, base := p.values()
	if cur < 0 {
		return math.NaN()
	}
	return cur - base
}

func (m *roundsMean) add(rd round, ceiling side) {
	b, c := rd.baseline.side, rd.current.side
	m.ratio.add(ratio(c.load.rate, ceiling.load.rate), ratio(b.load.rate, ceiling.load.rate))
	m.server.add(c.perOp(c.cpu.server), b.perOp(b.cpu.server))
	m.pg.add(c.perOp(c.cpu.postgres), b.perOp(b.cpu.postgres))
}

// fmtSigned writes v with its sign (U+2212 for minus), n decimals; NaN is n/a.
func fmtSigned(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := fmt.Sprintf("%+.*f", decimals, v)
	if s[1:] == fmt.Sprintf("%.*f", decimals, 0.0) {
		return "±" + s[1:]
	}
	return strings.Replace(s, "-", "−", 1)
}

// fmtChange is the change of a CPU figure in µs per request, and in percent of the
// baseline's: "−12 (−9 %)". Negative figures are unknown.
func fmtChange(cur, base float64) string {
	if cur < 0 || base < 0 {
		return "n/a"
	}
	s := fmtSigned(cur-base, 0)
	if base > 0 {
		s += " (" + fmtSigned((cur-base)/base*100, 0) + " %)"
	}
	return s
}
