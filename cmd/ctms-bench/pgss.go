package main

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pg_stat_statements of the private server: reset before each measured run, read after
// it, for the benchmark's database only. The extension lives in the postgres database,
// so the schema the service sees is untouched, and the benchmark's own queries (reset,
// read) run there and are not counted.

// stmtStat is one statement's figures over a run.
type stmtStat struct {
	query              string
	calls, plans, rows int64
	planMS, execMS     float64 // totals
}

// stmtStats are a run's statements: the top ones by total time and the sums of all.
type stmtStats struct {
	top   []stmtStat
	total stmtStat
}

const stmtTop = 8

type pgss struct {
	conn   *pgx.Conn
	dbName string
}

func openPGSS(ctx context.Context, adminURL, dbName string) (*pgss, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		_ = conn.Close(ctx) // the extension's error is the one to report
		return nil, err
	}
	return &pgss{conn: conn, dbName: dbName}, nil
}

func (p *pgss) close() { _ = p.conn.Close(context.Background()) }

func (p *pgss) reset(ctx context.Context) error {
	_, err := p.conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return err
}

func (p *pgss) read(ctx context.Context) (stmtStats, error) {
	rows, err := p.conn.Query(ctx, `SELECT s.query, s.calls, s.plans, s.rows, s.total_plan_time, s.total_exec_time
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = $1 ORDER BY s.total_plan_time + s.total_exec_time DESC`, p.dbName)
	if err != nil {
		return stmtStats{}, err
	}
	defer rows.Close()
	var out stmtStats
	for rows.Next() {
		var s stmtStat
		if err := rows.Scan(&s.query, &s.calls, &s.plans, &s.rows, &s.planMS, &s.execMS); err != nil {
			return out, err
		}
		s.query = strings.Join(strings.Fields(s.query), " ")
		out.total.calls += s.calls
		out.total.plans += s.plans
		out.total.rows += s.rows
		out.total.planMS += s.planMS
		out.total.execMS += s.execMS
		if len(out.top) < stmtTop {
			out.top = append(out.top, s)
		}
	}
	return out, rows.Err()
}
