package store

// How writes reach the database: each write request is one transaction, sent in
// as few round trips as its statements allow (a pipeline of statements is one
// round trip), and run again when it loses a race with another writer.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// inTx runs fn in one transaction, committed when fn returns nil (retried as
// attempt says).
func (s *Store) inTx(ctx context.Context, retryUnique bool, fn func(pgx.Tx) error) error {
	return s.attempt(ctx, retryUnique, func() error { return pgx.BeginFunc(ctx, s.db, fn) })
}

// inBatch runs the statements fn queues as one pipeline outside any explicit
// transaction: one round trip, one implicit transaction (all of it or nothing).
// It suits writes that need no answer from the database before their last
// statement (retried as attempt says).
func (s *Store) inBatch(ctx context.Context, retryUnique bool, fn func(*pipeline) error) error {
	return s.attempt(ctx, retryUnique, func() error {
		p := newPipeline(s.db)
		err := fn(p)
		if sendErr := p.Send(ctx); err == nil {
			err = mapError("pipeline", sendErr)
		}
		return err
	})
}

// attempt runs a write transaction (run), again when it loses a race.
//
// Writes racing on one contact can lose in ways that say nothing about the
// request: a deadlock or serialization failure, or (retryUnique, for PUT and
// POST of a new contact) a unique violation against a concurrent creator of
// the same contact, whose row the next attempt finds and updates. Those are
// run again, a bounded number of times, so the loser answers as if it had
// come just after the winner.
func (s *Store) attempt(ctx context.Context, retryUnique bool, run func() error) error {
	var err error
	uniqueRetries := 0
	for attempt := 1; ; attempt++ {
		err = run()
		again, unique := retryable(err)
		if unique {
			again = retryUnique && uniqueRetries < maxUniqueRetries
			uniqueRetries++
		}
		if again && attempt == maxAttempts && !unique {
			// Lost every attempt to concurrent writers: the database is too busy for
			// this contact now, which is a 503 to retry later, not a server fault.
			return fmt.Errorf("transaction: %w: lost %d races in a row: %w", ErrUnavailable, maxAttempts, err)
		}
		if !again || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		// A short random pause, so that racers do not collide again in step.
		time.Sleep(time.Duration(attempt) * time.Duration(rand.Int64N(int64(5*time.Millisecond)))) // #nosec G404 -- jitter, not a secret
	}
	if err != nil && !errors.Is(err, ErrUnavailable) && unavailable(err) {
		return fmt.Errorf("transaction: %w: %w", ErrUnavailable, err)
	}
	return err
}

const (
	maxAttempts      = 5 // per write transaction
	maxUniqueRetries = 2 // a genuine conflict costs this many more attempts
)

// inConnTx runs fn in one transaction on one connection, for a read-modify-write
// that needs the database's answer before it can write (PATCH, DELETE). Its
// BEGIN travels with the first pipeline fn sends and its COMMIT with the last
// (connTx), so such a write costs two round trips, not four. When fn fails
// half-way, the transaction is rolled back before the connection goes back to
// the pool. Retried as attempt says.
func (s *Store) inConnTx(ctx context.Context, fn func(*connTx) error) error {
	return s.attempt(ctx, false, func() error {
		var conn batchConn
		switch d := s.db.(type) {
		case *pgxpool.Pool:
			pc, err := d.Acquire(ctx)
			if err != nil {
				return mapError("acquire connection", err)
			}
			defer pc.Release()
			conn = pc.Conn()
		case *pgx.Conn:
			conn = d
		default: // already inside a transaction (pgx.Tx): its own pipelines, no BEGIN or COMMIT
			return fn(&connTx{conn: d, nested: true})
		}
		err := fn(&connTx{conn: conn})
		if conn.PgConn().TxStatus() != 'I' { // still in (or failed in) the transaction
			if _, rbErr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil && err == nil {
				err = rbErr
			}
		}
		return err
	})
}

type batchConn interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	PgConn() *pgconn.PgConn
}

// connTx is a transaction whose BEGIN is queued at the head of its first
// pipeline and whose COMMIT, by commitAfter, at the tail of its last.
type connTx struct {
	conn interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	}
	begun  bool
	nested bool // inside a transaction of the caller's: no BEGIN, no COMMIT
}

// pipeline returns the next pipeline of the transaction.
func (t *connTx) pipeline() *pipeline {
	p := newPipeline(t.conn)
	if !t.begun && !t.nested {
		p.batch.Queue("BEGIN")
		p.names = append(p.names, "BEGIN")
		p.hidden = 1
	}
	t.begun = true
	return p
}

// commitAfter makes p the transaction's last pipeline: COMMIT is sent in the
// same round trip, after every statement of p (its query with results included).
func (t *connTx) commitAfter(p *pipeline) {
	if !t.nested {
		p.trailing = append(p.trailing, "COMMIT")
	}
}

// pipeline is a db.DBTX that sends statements in one round trip. Statements
// without results (sqlc :exec) are queued, each named by Queue; the first query
// with results (sqlc :many) goes after them, with any trailing statements (a
// COMMIT) after it, and sends them all; Send sends what is still queued. Sent
// outside a transaction, the pipeline is one implicit transaction (one Sync):
// all of it or nothing, committed when Send returns nil.
//
// A queued statement's error arrives only when the pipeline is sent: it is then
// returned (by Send, or by the query that sent the pipeline) wrapped with the
// statement's name, so that it tells which statement failed.
type pipeline struct {
	conn interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	}
	batch    pgx.Batch
	names    []string // of every statement of batch, for its errors ("" until Queue names it)
	hidden   int      // statements queued ahead of the caller's (a BEGIN)
	trailing []string // statements sent after all of the caller's
	results  pgx.BatchResults
	tags     []pgconn.CommandTag // of the caller's statements without results
	queueErr error               // the first error Queue was given, returned by Send
}

var errPipelineSent = errors.New("pipeline: already sent")

func newPipeline(conn interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}) *pipeline {
	return &pipeline{conn: conn}
}

// Queue names the statement just queued on p: call it with the result of a sqlc
// :exec query run on p, as in p.Queue("EmailLock", q.EmailLock(ctx, p, id)).
// Queueing sends nothing, so err is only ever "already sent"; Send returns it,
// and returns the statement's own error, once sent, wrapped with name.
func (p *pipeline) Queue(name string, err error) {
	if err == nil && (len(p.names) == 0 || p.names[len(p.names)-1] != "") {
		err = errors.New("pipeline: nothing queued")
	}
	if err != nil {
		if p.queueErr == nil {
			p.queueErr = &statementError{name: name, err: err}
		}
		return
	}
	p.names[len(p.names)-1] = name
}

// statementError is the error of one statement of a pipeline, with its name.
type statementError struct {
	name string
	err  error
}

func (e *statementError) Error() string { return e.name + ": " + e.err.Error() }
func (e *statementError) Unwrap() error { return e.err }

func (p *pipeline) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.results != nil {
		return pgconn.CommandTag{}, errPipelineSent
	}
	p.batch.Queue(sql, args...)
	p.names = append(p.names, "")
	return pgconn.CommandTag{}, nil
}

func (p *pipeline) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.results != nil {
		return nil, errPipelineSent
	}
	queued := p.batch.Len()
	p.batch.Queue(sql, args...)
	p.names = append(p.names, "query") // its error comes with its rows, to its caller
	if err := p.send(ctx, queued); err != nil {
		return nil, err
	}
	return p.results.Query()
}

func (p *pipeline) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{errors.New("pipeline: single-row queries are not supported")}
}

// send sends the batch (the trailing statements last) and reads the results of
// its first n statements.
func (p *pipeline) send(ctx context.Context, n int) error {
	for _, sql := range p.trailing {
		p.batch.Queue(sql)
		p.names = append(p.names, sql)
	}
	p.results = p.conn.SendBatch(ctx, &p.batch)
	for i := range n {
		tag, err := p.results.Exec()
		if err != nil {
			return p.failed(i, err)
		}
		if i >= p.hidden {
			p.tags = append(p.tags, tag)
		}
	}
	return nil
}

// failed is the error of the i-th statement of the batch, named.
func (p *pipeline) failed(i int, err error) error {
	name := p.names[i]
	if name == "" { // queued without Queue
		name = fmt.Sprintf("statement %d", i-p.hidden+1)
	}
	return &statementError{name: name, err: err}
}

// rowsAffected is the row count of the caller's i-th statement without results.
func (p *pipeline) rowsAffected(i int) int64 {
	if i >= len(p.tags) {
		return 0
	}
	return p.tags[i].RowsAffected()
}

// Send sends what is still queued and ends the pipeline: its error is the first
// of any statement (named), the trailing ones (a COMMIT) included, and outside
// a transaction the implicit commit's, or else the first error Queue was given.
func (p *pipeline) Send(ctx context.Context) error {
	err := p.sendRest(ctx)
	if err == nil {
		err = p.queueErr
	}
	return err
}

func (p *pipeline) sendRest(ctx context.Context) error {
	if p.results == nil {
		if p.batch.Len() == 0 && len(p.trailing) == 0 {
			return nil
		}
		if err := p.send(ctx, p.batch.Len()); err != nil {
			_ = p.results.Close() // the statement's error is the one returned
			return err
		}
	}
	first := p.batch.Len() - len(p.trailing)
	for i := range p.trailing {
		if _, err := p.results.Exec(); err != nil {
			_ = p.results.Close() // the statement's error is the one returned
			return p.failed(first+i, err)
		}
	}
	return p.results.Close()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
