package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/testdb"
)

// The hot statements run on a cached generic plan: PostgreSQL plans them once per
// connection, not on every execution. A query whose plan depends on which of its
// parameters are null (an OR between the email_id and the primary email, say) stays
// on custom plans, and planning the contact query costs more than running it.
func TestHotStatementsUseGenericPlans(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every statement on the connection whose plan cache is read below
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(pool)
	// Enough rows, analysed, for the planner to weigh indexes as in production: on a
	// near-empty table every plan is cheap, and any is kept.
	if _, err := pool.Exec(ctx, `INSERT INTO emails (email_id, primary_email)
		SELECT gen_random_uuid(), 'filler' || i || '@example.com' FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	const n = 12
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("plan%d@example.com", i)
		c := &contact.Contact{Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: emails[i], EmailFormat: "H"}}
		if _, _, err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Contact(ctx, c.Email.EmailID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, c.Email.EmailID, &contact.Patch{Email: &contact.EmailPatch{FirstName: contact.Set("Ada")}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if cs, err := s.FindContacts(ctx, Filter{PrimaryEmail: &emails[i]}); err != nil || len(cs) != 1 {
			t.Fatalf("find %d: %v, %d contacts", i, err, len(cs))
		}
		if ids, err := s.FindIdentities(ctx, Filter{PrimaryEmail: &emails[i]}); err != nil || len(ids) != 1 {
			t.Fatalf("identities %d: %v, %d identities", i, err, len(ids))
		}
	}
	start, end := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for range n {
		page, err := s.Updates(ctx, UpdatesQuery{Start: start, End: end, Limit: 10})
		if err != nil || len(page) != 10 {
			t.Fatalf("updates: %v, %d contacts", err, len(page))
		}
		last := page[len(page)-1].Email
		after := &Cursor{EmailID: last.EmailID, UpdateTimestamp: last.UpdateTimestamp}
		if page, err = s.Updates(ctx, UpdatesQuery{Start: start, End: end, After: after, Limit: 10}); err != nil || len(page) != 10 {
			t.Fatalf("updates after: %v, %d contacts", err, len(page))
		}
	}
	for i := range n {
		if _, err := s.DeleteByPrimaryEmail(ctx, emails[i], "test"); err != nil {
			t.Fatal(err)
		}
	}

	// No statement of this workload is planned anew on every call.
	rows, err := pool.Query(ctx, `SELECT left(statement, 60), custom_plans FROM pg_prepared_statements WHERE custom_plans > 5`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var statement string
		var custom int64
		if err := rows.Scan(&statement, &custom); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%d custom plans: %s", custom, statement)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ContactGet", "ContactCreate", "EmailLock", "EmailUpdate", "EmailLockByPrimaryEmail", "IdentityByPrimaryEmail", "UpdatesFirstPage", "UpdatesNextPage"} {
		var generic, custom int64
		err := pool.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)
			FROM pg_prepared_statements WHERE statement LIKE '-- name: ' || $1 || ' %'`, name).Scan(&generic, &custom)
		if err != nil {
			t.Fatal(err)
		}
		// PostgreSQL tries five custom plans before it compares them with the generic one.
		if generic == 0 || custom > 5 {
			t.Errorf("%s: %d generic and %d custom plans, want the generic plan after at most 5 custom ones", name, generic, custom)
		}
	}
}
