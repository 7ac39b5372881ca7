package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/testdb"
)

// A PATCH whose write fails half-way (here on the primary email's unique index)
// leaves nothing written and hands its connection back to the pool clean: the
// transaction begun in its first round trip is rolled back, the connection is
// kept (not closed and reopened) and serves the next writes.
func TestConnTxFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(pool)
	a := &contact.Contact{Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "a@example.com", EmailFormat: "H"}}
	b := &contact.Contact{Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "b@example.com", EmailFormat: "H"}}
	for _, c := range []*contact.Contact{a, b} {
		if _, _, err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Update(ctx, b.Email.EmailID, &contact.Patch{Email: &contact.EmailPatch{
		PrimaryEmail: new("A@example.com"), FirstName: contact.Set("Bea")}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("PATCH onto a taken primary email: %v, want ErrConflict", err)
	}
	if got, err := s.Contact(ctx, b.Email.EmailID); err != nil || got.Email.FirstName != nil {
		t.Fatalf("after the failed PATCH: %v, first name %v, want none written", err, got.Email.FirstName)
	}
	if _, err := s.Update(ctx, b.Email.EmailID, &contact.Patch{Email: &contact.EmailPatch{FirstName: contact.Set("Bea")}}); err != nil {
		t.Fatal(err)
	}
	if deleted, err := s.DeleteByPrimaryEmail(ctx, "a@example.com", "test"); err != nil || len(deleted) != 1 {
		t.Fatalf("delete: %v, %d deleted", err, len(deleted))
	}
	if n := pool.Stat().NewConnsCount(); n != 1 {
		t.Errorf("%d connections opened, want 1: a connection left in a transaction is closed by the pool", n)
	}
}
