package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/gen/db"
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

// A statement queued on a pipeline fails only once the pipeline is sent, after
// other statements were queued: its error names it, so the log tells which of a
// write's statements a constraint refused.
func TestQueuedStatementErrorNamesTheStatement(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(pool)
	a := &contact.Contact{Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "a@example.com", EmailFormat: "H"},
		Fxa: &contact.FirefoxAccounts{FxaID: new("fxa-a")}, Mofo: &contact.MozillaFoundation{MofoEmailID: new("mofo-a")}}
	b := &contact.Contact{Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: "b@example.com", EmailFormat: "H"}}
	for _, c := range []*contact.Contact{a, b} {
		if _, _, err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	taken := func(what string, err error, statement string) {
		t.Helper()
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), statement+": constraint") {
			t.Errorf("%s: %v, want ErrConflict naming %s", what, err, statement)
		}
	}
	_, err = s.Update(ctx, b.Email.EmailID, &contact.Patch{Email: &contact.EmailPatch{PrimaryEmail: new("A@example.com")}})
	taken("PATCH onto a taken primary email", err, "EmailUpdate")
	_, err = s.Update(ctx, b.Email.EmailID, &contact.Patch{Fxa: &contact.FirefoxAccountsPatch{FxaID: contact.Set("fxa-a")}})
	taken("PATCH onto a taken fxa_id", err, "FxaUpsert")
	replaced := b.Clone()
	replaced.Mofo = &contact.MozillaFoundation{MofoEmailID: new("mofo-a")}
	_, err = s.Replace(ctx, replaced)
	taken("PUT with a taken mofo_email_id", err, "MofoUpsert")
}

// A statement queued after its pipeline was sent is not lost: Send returns its error, named.
func TestQueueAfterSendFails(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	q := db.New()
	p := newPipeline(pool)
	if _, err := q.IdentityByPrimaryEmail(ctx, p, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	p.Queue("EmailLock", q.EmailLock(ctx, p, uuid.New()))
	if err := p.Send(ctx); !errors.Is(err, errPipelineSent) || !strings.HasPrefix(err.Error(), "EmailLock: ") {
		t.Errorf("Send: %v, want the late EmailLock's errPipelineSent", err)
	}
}
