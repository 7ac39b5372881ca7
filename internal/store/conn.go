package store

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// PrepareConn readies a new connection for the store (pgxpool.Config.AfterConnect):
// uuid.UUID values, and the *uuid.UUID of optional parameters, are encoded and
// decoded in PostgreSQL's binary form directly. Without it, pgx goes through
// uuid.UUID's driver.Valuer (a text form, about twenty allocations) for every
// parameter.
func PrepareConn(_ context.Context, conn *pgx.Conn) error {
	tm := conn.TypeMap()
	pgxuuid.Register(tm)
	// Ahead of pgx's own pointer handling, which leaves a pointer to a
	// driver.Valuer to that Valuer.
	tm.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDPointer}, tm.TryWrapEncodePlanFuncs...)
	return nil
}

func tryWrapUUIDPointer(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if _, ok := value.(*uuid.UUID); ok {
		return &uuidPointerPlan{}, pgxuuid.UUID{}, true
	}
	return nil, nil, false
}

// uuidPointerPlan encodes a *uuid.UUID: nil as NULL, else its value.
type uuidPointerPlan struct{ next pgtype.EncodePlan }

func (p *uuidPointerPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidPointerPlan) Encode(value any, buf []byte) ([]byte, error) {
	id := value.(*uuid.UUID)
	if id == nil {
		return nil, nil
	}
	return p.next.Encode(pgxuuid.UUID(*id), buf)
}
