package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/db"
)

// Tombstone is the record a deleted contact leaves (written by a database trigger,
// sql/migrations/00005_deletion_tombstones.sql and 00008_database_hardening.sql): keyed
// hashes (HMAC-SHA256 under CTMS_DELETION_HASH_KEY), never addresses. The hashes are nil
// for deletions made before migration 8 or while no key was installed (the columns, still
// named *_sha256, then hold an empty string).
type Tombstone struct {
	EmailID             uuid.UUID
	DeletedAt           time.Time
	PrimaryEmailHMAC    *string
	FxaPrimaryEmailHMAC *string
	DeletedBy           string
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
		out[i] = Tombstone{EmailID: r.EmailID, DeletedAt: r.DeletedAt.UTC(), PrimaryEmailHMAC: knownHash(&r.PrimaryEmailSha256),
			FxaPrimaryEmailHMAC: knownHash(r.FxaPrimaryEmailSha256), DeletedBy: r.DeletedBy}
	}
	return out, nil
}

// knownHash is h, or nil when the tombstone has none (” or NULL).
func knownHash(h *string) *string {
	if h == nil || *h == "" {
		return nil
	}
	return h
}

// PurgeDeletions removes the tombstones of deletions before cutoff (the retention,
// CTMS_DELETIONS_RETENTION) and returns how many it removed. Only trusted sessions may
// (superusers and members of ctms_trusted: docs/operations.md#database-roles).
func (s *Store) PurgeDeletions(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.q.DeletionsPurge(ctx, s.db, cutoff)
	return n, mapError("deletions purge", err)
}

// SetDeletionHashKey installs the key of the tombstones' HMACs (CTMS_DELETION_HASH_KEY);
// only the tables' owner may (`ctms migrate`). It reports whether the key changed.
func (s *Store) SetDeletionHashKey(ctx context.Context, key []byte) (bool, error) {
	changed, err := s.q.DeletionHashKeySet(ctx, s.db, key)
	return changed, mapError("deletion hash key", err)
}
