package store

// The change feed (/updates): pages of contacts in the order of their last
// change, keyset-paged by Cursor, and the end a page may not pass while older
// writes can still commit (UpdatesEnd).

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

// UpdatesQuery selects a page of the change feed.
type UpdatesQuery struct {
	Start, End   time.Time
	After        *Cursor // nil for the first page
	MofoRelevant *bool
	Limit        int
}

// Cursor is the keyset position of the last contact of a page.
type Cursor struct {
	EmailID         uuid.UUID
	UpdateTimestamp time.Time
}

// Updates returns one page of contacts changed in [Start, End) (after the cursor
// when there is one), ordered by (update_timestamp, email_id): in one statement,
// or, filtered on mofo_relevant, in two (the page's ids, then their contacts).
func (s *Store) Updates(ctx context.Context, u UpdatesQuery) ([]contact.Contact, error) {
	limit := int32(u.Limit) // #nosec G115 -- limit is 1..1000 (checked by the handler)
	switch {
	case u.MofoRelevant != nil:
		ids, err := s.updatesMofo(ctx, u, limit)
		if err != nil {
			return nil, err
		}
		return s.Contacts(ctx, ids)
	case u.After == nil:
		rows, err := s.q.UpdatesFirstPage(ctx, s.db, db.UpdatesFirstPageParams{StartTs: u.Start, EndTs: u.End, MaxRows: limit})
		if err != nil {
			return nil, mapError("updates first page", err)
		}
		return contactsFromRows(rows)
	}
	rows, err := s.q.UpdatesNextPage(ctx, s.db, db.UpdatesNextPageParams{
		AfterTs: u.After.UpdateTimestamp, AfterID: u.After.EmailID, EndTs: u.End, MaxRows: limit,
	})
	if err != nil {
		return nil, mapError("updates next page", err)
	}
	return contactsFromRows(rows)
}

func (s *Store) updatesMofo(ctx context.Context, u UpdatesQuery, limit int32) ([]uuid.UUID, error) {
	if u.After == nil {
		ids, err := s.q.UpdatesFirstPageMofo(ctx, s.db, db.UpdatesFirstPageMofoParams{
			StartTs: u.Start, EndTs: u.End, MofoRelevant: *u.MofoRelevant, MaxRows: limit,
		})
		return ids, mapError("updates first page", err)
	}
	ids, err := s.q.UpdatesNextPageMofo(ctx, s.db, db.UpdatesNextPageMofoParams{
		AfterTs: u.After.UpdateTimestamp, AfterID: u.After.EmailID, EndTs: u.End, MofoRelevant: *u.MofoRelevant, MaxRows: limit,
	})
	return ids, mapError("updates next page", err)
}

// UpdatesEnd is the default `end` of /updates and /deletions: now, or the write
// time of the oldest transaction that may still commit a contact change (or a
// deletion) if it is younger than maxWait (any age when maxWait is 0), whichever
// is earlier, so that a consumer paging with its cursor never passes a write that
// commits late (sql/queries/platform.sql: FeedWriteMarkers).
func (s *Store) UpdatesEnd(ctx context.Context, now time.Time, maxWait time.Duration) (time.Time, error) {
	m, err := s.q.FeedWriteMarkers(ctx, s.db, maxWait.Seconds())
	if err != nil {
		return now, mapError("feed write markers", err)
	}
	if m.WaitedFor.Before(now) {
		return m.WaitedFor.UTC(), nil
	}
	return now, nil
}

// OldestWriteAge is how long the oldest contact write still in flight has held
// its write-start marker (0 when none), as the database's clock tells.
func (s *Store) OldestWriteAge(ctx context.Context) (time.Duration, error) {
	m, err := s.q.FeedWriteMarkers(ctx, s.db, 0)
	if err != nil {
		return 0, mapError("feed write markers", err)
	}
	return m.Now.Sub(m.Oldest), nil
}
