package store

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctms-go/ctms/internal/testdb"
)

// A prepared connection sends uuid.UUID parameters in binary without allocating
// (no detour through a text form and a failed binary attempt), and reads them back.
func TestPrepareConnEncodesUUIDsDirectly(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	if err := PrepareConn(ctx, conn); err != nil {
		t.Fatal(err)
	}
	id, buf := uuid.New(), make([]byte, 0, 64)
	for _, value := range []any{id, &id} {
		// The plan pgx keeps per statement and parameter.
		plan := conn.TypeMap().PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, value)
		if plan == nil {
			t.Fatalf("%T: no binary encoding", value)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := plan.Encode(value, buf[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 2 {
			t.Errorf("encoding a %T parameter: %.0f allocations, want at most 2", value, allocs)
		}
	}
	var back, none *uuid.UUID
	if err := conn.QueryRow(ctx, "SELECT $1::uuid, $2::uuid", &id, none).Scan(&back, &none); err != nil || back == nil || *back != id || none != nil {
		t.Fatalf("round trip: %v, %v, %v, want %v and NULL", err, back, none, id)
	}
}
