package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

func emailParams(e *contact.Email) db.EmailInsertParams {
	var token *string
	if e.BasketToken != nil {
		token = new(e.BasketToken.String()) // canonical lower-case form
	}
	return db.EmailInsertParams{
		EmailID: e.EmailID, PrimaryEmail: e.PrimaryEmail, BasketToken: token, SfdcID: e.SfdcID,
		FirstName: e.FirstName, LastName: e.LastName, MailingCountry: e.MailingCountry,
		EmailFormat: new(e.EmailFormat), EmailLang: e.EmailLang,
		HasOptedOutOfEmail: new(e.HasOptedOutOfEmail), UnsubscribeReason: e.UnsubscribeReason,
		DoubleOptIn: new(e.DoubleOptIn),
	}
}

func emailUpdateParams(e *contact.Email) db.EmailUpdateParams {
	p := emailParams(e)
	return db.EmailUpdateParams{
		PrimaryEmail: p.PrimaryEmail, BasketToken: p.BasketToken, SfdcID: p.SfdcID,
		FirstName: p.FirstName, LastName: p.LastName, MailingCountry: p.MailingCountry,
		EmailFormat: p.EmailFormat, EmailLang: p.EmailLang, HasOptedOutOfEmail: p.HasOptedOutOfEmail,
		UnsubscribeReason: p.UnsubscribeReason, DoubleOptIn: p.DoubleOptIn, EmailID: p.EmailID,
	}
}

// writeChildren brings the groups and lists of the stored contact old (nil when
// new) to those of c. touchAll (PUT) rewrites every present group and listed
// item, bumping its update_timestamp; otherwise (PATCH) only what changed is written.
//
// The statements are sent as one pipelined batch: one round trip however many
// groups and lists change.
func (s *Store) writeChildren(ctx context.Context, tx pgx.Tx, old, c *contact.Contact, touchAll bool) error {
	p := &pipeline{}
	if err := s.queueChildren(ctx, p, old, c, touchAll); err != nil {
		return err
	}
	return mapError("write contact", p.send(ctx, tx))
}

func (s *Store) queueChildren(ctx context.Context, tx db.DBTX, old, c *contact.Contact, touchAll bool) error {
	if old == nil {
		old = &contact.Contact{}
	}
	id := c.Email.EmailID

	switch {
	case c.Amo.IsDefault():
		if old.Amo != nil {
			if err := s.q.AmoDelete(ctx, tx, id); err != nil {
				return mapError("amo delete", err)
			}
		}
	case touchAll || old.Amo == nil || !old.Amo.SameContent(c.Amo):
		a := c.Amo
		if err := s.q.AmoUpsert(ctx, tx, db.AmoUpsertParams{
			EmailID: id, AddOnIds: a.AddOnIds, DisplayName: a.DisplayName, EmailOptIn: new(a.EmailOptIn),
			Language: a.Language, LastLogin: a.LastLogin, Location: a.Location, ProfileUrl: a.ProfileURL,
			IsUser: new(a.User), UserID: a.UserID, Username: a.Username,
		}); err != nil {
			return mapError("amo upsert", err)
		}
	}

	switch {
	case c.Fxa.IsDefault():
		if old.Fxa != nil {
			if err := s.q.FxaDelete(ctx, tx, id); err != nil {
				return mapError("fxa delete", err)
			}
		}
	case touchAll || old.Fxa == nil || !old.Fxa.SameContent(c.Fxa):
		f := c.Fxa
		if err := s.q.FxaUpsert(ctx, tx, db.FxaUpsertParams{
			EmailID: id, FxaID: f.FxaID, PrimaryEmail: f.PrimaryEmail, CreatedDate: f.CreatedDate,
			Lang: f.Lang, FirstService: f.FirstService, AccountDeleted: new(f.AccountDeleted),
		}); err != nil {
			return mapError("fxa upsert", err)
		}
	}

	switch {
	case c.Mofo.IsDefault():
		if old.Mofo != nil {
			if err := s.q.MofoDelete(ctx, tx, id); err != nil {
				return mapError("mofo delete", err)
			}
		}
	case touchAll || old.Mofo == nil || !old.Mofo.SameContent(c.Mofo):
		m := c.Mofo
		if err := s.q.MofoUpsert(ctx, tx, db.MofoUpsertParams{
			EmailID: id, MofoEmailID: m.MofoEmailID, MofoContactID: m.MofoContactID, MofoRelevant: new(m.MofoRelevant),
		}); err != nil {
			return mapError("mofo upsert", err)
		}
	}

	if err := s.writeNewsletters(ctx, tx, old, c, touchAll); err != nil {
		return err
	}
	return s.writeWaitlists(ctx, tx, old, c, touchAll)
}

// pipeline is a db.DBTX that queues statements without results (sqlc :exec
// queries) into a pgx batch; send runs them in order in one round trip and
// returns the first error.
type pipeline struct{ batch pgx.Batch }

func (p *pipeline) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (p *pipeline) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("pipeline: only statements without results can be queued")
}

func (p *pipeline) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{errors.New("pipeline: only statements without results can be queued")}
}

func (p *pipeline) send(ctx context.Context, tx pgx.Tx) error {
	if p.batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &p.batch).Close()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type newsletterItem struct {
	Name        string  `json:"name"`
	Subscribed  bool    `json:"subscribed"`
	Format      string  `json:"format"`
	Lang        *string `json:"lang"`
	Source      *string `json:"source"`
	UnsubReason *string `json:"unsub_reason"`
}

func (s *Store) writeNewsletters(ctx context.Context, tx db.DBTX, old, c *contact.Contact, touchAll bool) error {
	stored := make(map[string]*contact.Newsletter, len(old.Newsletters))
	for i := range old.Newsletters {
		stored[old.Newsletters[i].Name] = &old.Newsletters[i]
	}
	var changed []newsletterItem
	keep := make([]string, 0, len(c.Newsletters))
	for i := range c.Newsletters {
		n := &c.Newsletters[i]
		keep = append(keep, n.Name)
		if prev, ok := stored[n.Name]; ok && !touchAll && prev.SameContent(n) {
			continue
		}
		changed = append(changed, newsletterItem{n.Name, n.Subscribed, n.Format, n.Lang, n.Source, n.UnsubReason})
	}
	if len(old.Newsletters) > 0 && removesAny(stored, keep) {
		if err := s.q.NewslettersDeleteExcept(ctx, tx, db.NewslettersDeleteExceptParams{EmailID: c.Email.EmailID, KeepNames: keep}); err != nil {
			return mapError("newsletters delete", err)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	items, err := json.Marshal(changed)
	if err != nil {
		return fmt.Errorf("newsletters encode: %w", err)
	}
	return mapError("newsletters upsert", s.q.NewslettersUpsert(ctx, tx, db.NewslettersUpsertParams{EmailID: c.Email.EmailID, Items: items}))
}

type waitlistItem struct {
	Name        string          `json:"name"`
	Source      *string         `json:"source"`
	Fields      json.RawMessage `json:"fields"`
	Subscribed  bool            `json:"subscribed"`
	UnsubReason *string         `json:"unsub_reason"`
}

func (s *Store) writeWaitlists(ctx context.Context, tx db.DBTX, old, c *contact.Contact, touchAll bool) error {
	stored := make(map[string]*contact.Waitlist, len(old.Waitlists))
	for i := range old.Waitlists {
		stored[old.Waitlists[i].Name] = &old.Waitlists[i]
	}
	var changed []waitlistItem
	keep := make([]string, 0, len(c.Waitlists))
	for i := range c.Waitlists {
		w := &c.Waitlists[i]
		keep = append(keep, w.Name)
		if prev, ok := stored[w.Name]; ok && !touchAll && prev.SameContent(w) {
			continue
		}
		fields := w.Fields
		if len(fields) == 0 {
			fields = json.RawMessage("{}")
		}
		changed = append(changed, waitlistItem{w.Name, w.Source, fields, w.Subscribed, w.UnsubReason})
	}
	if len(old.Waitlists) > 0 && removesAny(stored, keep) {
		if err := s.q.WaitlistsDeleteExcept(ctx, tx, db.WaitlistsDeleteExceptParams{EmailID: c.Email.EmailID, KeepNames: keep}); err != nil {
			return mapError("waitlists delete", err)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	items, err := json.Marshal(changed)
	if err != nil {
		return fmt.Errorf("waitlists encode: %w", err)
	}
	return mapError("waitlists upsert", s.q.WaitlistsUpsert(ctx, tx, db.WaitlistsUpsertParams{EmailID: c.Email.EmailID, Items: items}))
}

// removesAny reports whether some stored name is not in keep.
func removesAny[T any](stored map[string]*T, keep []string) bool {
	kept := make(map[string]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	for name := range stored {
		if !kept[name] {
			return true
		}
	}
	return false
}

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
// when there is one), ordered by (update_timestamp, email_id).
func (s *Store) Updates(ctx context.Context, u UpdatesQuery) ([]contact.Contact, error) {
	var ids []uuid.UUID
	if u.After == nil {
		rows, err := s.q.UpdatesFirstPage(ctx, s.db, db.UpdatesFirstPageParams{
			StartTs: u.Start, EndTs: u.End, MofoRelevant: u.MofoRelevant, MaxRows: int32(u.Limit), // #nosec G115 -- limit is 1..1000 (checked by the handler)
		})
		if err != nil {
			return nil, mapError("updates first page", err)
		}
		for _, r := range rows {
			ids = append(ids, r.EmailID)
		}
	} else {
		rows, err := s.q.UpdatesNextPage(ctx, s.db, db.UpdatesNextPageParams{
			AfterTs: u.After.UpdateTimestamp, AfterID: u.After.EmailID, EndTs: u.End,
			MofoRelevant: u.MofoRelevant, MaxRows: int32(u.Limit), // #nosec G115 -- limit is 1..1000 (checked by the handler)
		})
		if err != nil {
			return nil, mapError("updates next page", err)
		}
		for _, r := range rows {
			ids = append(ids, r.EmailID)
		}
	}
	return s.Contacts(ctx, ids)
}

// UpdatesEnd is the default `end` of /updates: now, or the start of the oldest
// transaction that may still commit a contact change, whichever is earlier, so
// that a consumer paging with its cursor never passes a write that commits late.
func (s *Store) UpdatesEnd(ctx context.Context, now time.Time) (time.Time, error) {
	oldest, err := s.q.OldestWriteStart(ctx, s.db)
	if err != nil {
		return now, mapError("oldest write start", err)
	}
	if oldest.Before(now) {
		return oldest.UTC(), nil
	}
	return now, nil
}
