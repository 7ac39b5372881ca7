package httpapi

import (
	"context"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/store"
)

// readDeletions is GET /deletions: the tombstones of deleted contacts, paged exactly
// as /updates (updates.go), keyset on (deleted_at, email_id).
func (s *server) readDeletions(ctx context.Context, p *feedParams) (*deletionsOK, error) {
	page, err := parseFeedPage(p.Start, p.End, p.Limit, p.After)
	if err != nil {
		return nil, err
	}
	// Tombstones take deleted_at from their transaction's start, as contacts take
	// update_timestamp: the same guard keeps late commits behind the cursor.
	if err := s.feedEnd(ctx, &page); err != nil {
		return nil, err
	}
	items, err := read(ctx, s, (*store.Store).Deletions, store.DeletionsQuery{
		Start: page.start.t, End: page.end.t, After: page.after, Limit: page.limit,
	})
	if err != nil {
		return nil, err
	}
	resp := &deletionsOK{
		Start: page.start.render(), End: page.end.render(), Limit: page.limit,
		Items: make([]api.DeletionTombstone, len(items)),
	}
	for i, t := range items {
		resp.Items[i] = api.DeletionTombstone{
			EmailId: t.EmailID, DeletedAt: pyISO(t.DeletedAt, "Z"), PrimaryEmailHmac: t.PrimaryEmailHMAC,
			FxaPrimaryEmailHmac: t.FxaPrimaryEmailHMAC, DeletedBy: t.DeletedBy,
		}
	}
	if len(items) == page.limit {
		last := items[len(items)-1]
		cursor, next := page.next(s.cfg.ServerPrefix, "/deletions", store.Cursor{EmailID: last.EmailID, UpdateTimestamp: last.DeletedAt})
		resp.After, resp.Next = &cursor, &next
	}
	return resp, nil
}
