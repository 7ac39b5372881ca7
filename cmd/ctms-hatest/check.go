package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// primaryPort is the port of the server a read-write connection reaches.
func primaryPort(ctx context.Context, dbURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		port, err := queryPort(ctx, dbURL)
		if err == nil || ctx.Err() != nil {
			return port, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func queryPort(ctx context.Context, dbURL string) (int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var port int
	err = conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port)
	return port, err
}

// verify looks up the acknowledged writes on the primary: the ones missing are lost.
// It also counts the failed requests whose contact exists all the same.
func verify(ctx context.Context, dbURL string, acked, unknown []uuid.UUID) (lost []uuid.UUID, extra int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(context.Background())
	found := map[string]bool{}
	all := append(append([]uuid.UUID(nil), acked...), unknown...)
	for i := 0; i < len(all); i += 5000 {
		ids := make([]string, 0, 5000)
		for _, id := range all[i:min(i+5000, len(all))] {
			ids = append(ids, id.String())
		}
		rows, err := conn.Query(ctx, "SELECT email_id::text FROM emails WHERE email_id = ANY($1::uuid[])", ids)
		if err != nil {
			return nil, 0, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return nil, 0, err
			}
			found[s] = true
		}
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	for _, id := range acked {
		if !found[id.String()] {
			lost = append(lost, id)
		}
	}
	for _, id := range unknown {
		if found[id.String()] {
			extra++
		}
	}
	return lost, extra, nil
}

type readResult struct {
	ok      bool
	summary string
}

// readCheck compares /updates through instance B (reads routed to the standby) with
// /updates through instance A (everything on the primary) until they agree and cover
// every acknowledged write, and until the standby shows reads of the emails table
// (only a read pool reads it there: the pg_autoctl keepers never do).
func readCheck(ctx context.Context, o options, token string, since time.Time, acked []uuid.UUID) readResult {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	began := time.Now()
	var standbyPort int
	for {
		p, err := queryPort(ctx, o.standbyURL)
		if err == nil {
			standbyPort = p
			break
		}
		if ctx.Err() != nil {
			return readResult{summary: "FAIL: no standby came back within 2 minutes: " + err.Error()}
		}
		time.Sleep(time.Second)
	}
	logf("standby is on port %d (after %.1f s); comparing /updates", standbyPort, time.Since(began).Seconds())
	base, err := emailScans(ctx, o.standbyURL)
	if err != nil {
		return readResult{summary: "FAIL: reading the standby's statistics: " + err.Error()}
	}
	start := since.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000Z")
	var matchedAfter time.Duration
	var n int
	var last string
	for {
		a, errA := allUpdates(ctx, o.a, token, start)
		b, errB := allUpdates(ctx, o.b, token, start)
		switch {
		case errA != nil:
			last = "via A: " + errA.Error()
		case errB != nil:
			last = "via B: " + errB.Error()
		case !equal(a, b):
			last = fmt.Sprintf("differ: %d items via A, %d via B", len(a), len(b))
		case !covers(b, acked):
			last = fmt.Sprintf("%d items do not cover the %d acknowledged writes", len(b), len(acked))
		default:
			if matchedAfter == 0 {
				matchedAfter, n = time.Since(began), len(b)
			}
			scans, err := emailScans(ctx, o.standbyURL)
			if err == nil && scans > base {
				return readResult{ok: true, summary: fmt.Sprintf(
					"/updates via the read-routed instance = via the primary: %d items, all acknowledged writes, %.1f s after the standby came back (port %d; it served the reads: %d scans of emails there)",
					n, matchedAfter.Seconds(), standbyPort, scans-base)}
			}
			last = "the standby has not served a read yet (the read pool still holds connections to the promoted node)"
		}
		if ctx.Err() != nil {
			return readResult{summary: "FAIL: " + last}
		}
		time.Sleep(time.Second)
	}
}

// emailScans is how often the emails table was read on the server (both scan kinds).
func emailScans(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
		FROM pg_stat_user_tables WHERE relname = 'emails'`).Scan(&n)
	return n, err
}

type item struct{ id, ts string }

// allUpdates pages through GET /updates from start (the default end: now).
func allUpdates(ctx context.Context, base, token, start string) ([]item, error) {
	var out []item
	q := url.Values{"start": {start}, "limit": {"1000"}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/updates?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // read above: its error is the one that matters
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /updates: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		var page struct {
			End   string  `json:"end"`
			After *string `json:"after"`
			Items []struct {
				Email struct {
					EmailID         string `json:"email_id"`
					UpdateTimestamp string `json:"update_timestamp"`
				} `json:"email"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out = append(out, item{it.Email.EmailID, it.Email.UpdateTimestamp})
		}
		if page.After == nil {
			return out, nil
		}
		q.Set("end", page.End)
		q.Set("after", *page.After)
	}
}

func equal(a, b []item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func covers(items []item, ids []uuid.UUID) bool {
	have := make(map[string]bool, len(items))
	for _, it := range items {
		have[it.id] = true
	}
	for _, id := range ids {
		if !have[id.String()] {
			return false
		}
	}
	return true
}
