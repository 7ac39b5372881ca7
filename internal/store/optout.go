package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/optout"
)

// ApplyOptoutBatch opts the contacts of one batch of suppression-list lines out
// of e-mail, in one transaction (sql/queries/optout.sql), and counts the lines.
// The dates are tallied by optout.Import.
func (s *Store) ApplyOptoutBatch(ctx context.Context, batch []optout.Line) (optout.Counts, error) {
	p := db.OptoutApplyBatchParams{
		LineNos: make([]int64, len(batch)),
		Emails:  make([]string, len(batch)),
		Reasons: make([]string, len(batch)),
	}
	for i, l := range batch {
		p.LineNos[i], p.Emails[i], p.Reasons[i] = int64(l.No), l.Email, l.Reason
	}
	var row db.OptoutApplyBatchRow
	err := s.inTx(ctx, false, func(tx pgx.Tx) error {
		var err error
		row, err = s.q.OptoutApplyBatch(ctx, tx, p)
		return err
	})
	if err != nil {
		// optout.Import names the batch; the database's own message follows it as is.
		return optout.Counts{}, keepText(mapError("optout batch", err), err)
	}
	return optout.Counts{
		Updated:         row.Updated,
		AlreadyOptedOut: row.AlreadyOptedOut,
		Unknown:         row.Unknown,
		ContactsUpdated: row.ContactsUpdated,
	}, nil
}

// keepText is mapped (for errors.Is against the sentinels) with the text of the
// original error: PgError's text holds no row values (its Detail does, and it is
// left out).
func keepText(mapped, original error) error {
	return textError{text: original.Error(), mapped: mapped}
}

type textError struct {
	text   string
	mapped error
}

func (e textError) Error() string { return e.text }
func (e textError) Unwrap() error { return e.mapped }
