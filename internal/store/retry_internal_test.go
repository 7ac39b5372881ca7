package store

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/testdb"
)

// A write that loses its race on every attempt (deadlock, serialization failure,
// or what it read vanishing) ends as ErrUnavailable (503, retry later), never as
// an unexplained error (500); it is tried maxAttempts times.
func TestInTxRacesExhausted(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(pool)
	for _, lost := range []error{&pgconn.PgError{Code: "40P01"}, &pgconn.PgError{Code: "40001"}, errRetry} {
		attempts := 0
		err := s.inTx(context.Background(), true, func(pgx.Tx) error { attempts++; return lost })
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v on every attempt: got %v, want ErrUnavailable", lost, err)
		}
		if attempts != maxAttempts {
			t.Errorf("%v: %d attempts, want %d", lost, attempts, maxAttempts)
		}
	}
}
