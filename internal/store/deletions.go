package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/db"
)

// Tombstone is the record a deleted contact leaves (written by a database trigger,
// sql/migrations/00005_deletion_tombstones.sql): hashes, never addresses.
type Tombstone struct {
	EmailID               uuid.UUID
	DeletedAt             time.Time
	PrimaryEmailSHA256    string
	FxaPrimaryEmailSHA256 *string
	DeletedBy             string
}

// DeletionsQuery selects one page of tombstones: deleted in [Start, End), after the
// cursor when there is one (Cursor.UpdateTimestamp then holds deleted_at).
type DeletionsQuery struct {
	Start, End time.Time
	After      *Cursor
	Limit      int
}

// Deletions returns one page of tombstones ordered by (deleted_at, email_id).
func (s *Store) Deletions(ctx context.Context, q DeletionsQuery) ([]Tombstone, error) {
	var rows []db.DeletionTombstone
	var err error
	if q.After == nil {
		rows, err = s.q.DeletionsFirstPage(ctx, s.db, db.DeletionsFirstPageParams{
			StartTs: q.Start, EndTs: q.End, MaxRows: int32(q.Limit), // #nosec G115 -- limit is 1..1000 (checked by the handler)
		})
	} else {
		rows, err = s.q.DeletionsNextPage(ctx, s.db, db.DeletionsNextPageParams{
			AfterTs: q.After.UpdateTimestamp, AfterID: q.After.EmailID, EndTs: q.End,
			MaxRows: int32(q.Limit), // #nosec G115 -- limit is 1..1000 (checked by the handler)
		})
	}
	if err != nil {
		return nil, mapError("deletions page", err)
	}
	out := make([]Tombstone, len(rows))
	for i, r := range rows {
		out[i] = Tombstone{EmailID: r.EmailID, DeletedAt: r.DeletedAt.UTC(), PrimaryEmailSHA256: r.PrimaryEmailSha256,
			FxaPrimaryEmailSHA256: r.FxaPrimaryEmailSha256, DeletedBy: r.DeletedBy}
	}
	return out, nil
}

// PurgeDeletions removes the tombstones of deletions before cutoff (the retention,
// CTMS_DELETIONS_RETENTION) and returns how many it removed.
func (s *Store) PurgeDeletions(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.q.DeletionsPurge(ctx, s.db, cutoff)
	return n, mapError("deletions purge", err)
}
