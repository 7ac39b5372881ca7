// Package optout reads a suppression list (the CSV files the Python CTMS turned
// into SQL with suppression-list/csv2optout.py) and feeds it, in batches, to a
// function that opts the listed contacts out of e-mail. `ctms optout import`
// supplies that function; the database work is in sql/queries/optout.sql.
//
// The file has three columns, "Email","Date","Reason", with an optional header
// row. Dates are like 2024-03-12 05:17 PM and are taken as UTC.
package optout

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Line is one well-formed line of the suppression list.
type Line struct {
	No     int       // line number in the file (where the record starts), from 1
	Email  string    // as written, without surrounding spaces
	Date   time.Time // UTC
	Reason string    // as written; empty when the column is empty
}

// LineError reports a malformed line. Its text names the line and what is
// wrong with it, never the e-mail address.
type LineError struct {
	No     int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.No, e.Reason) }

// dateLayouts are the accepted forms of the Date column, tried in order after
// upper-casing it: the suppression-list form (12-hour clock, hours with or
// without a leading zero, optional seconds), then the 24-hour equivalents.
var dateLayouts = []string{
	"2006-01-02 3:04 PM",
	"2006-01-02 3:04:05 PM",
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
}

// DateExample shows the expected Date form in messages.
const DateExample = "2024-03-12 05:17 PM"

// ParseDate parses a Date column value as UTC. AM/PM may be in either case.
func ParseDate(s string) (time.Time, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable date %s (expected a date like %s)", quoteShort(s), DateExample)
}

// quoteShort quotes s for a message, cut to a length that keeps it readable.
func quoteShort(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

const bom = "\uFEFF"

// Reader reads the lines of a suppression list.
type Reader struct {
	csv      *csv.Reader
	bomLen   int64
	started  bool
	headerNo int
}

// NewReader reads CSV from r: comma-separated, quoted fields as RFC 4180
// (commas and line breaks inside quotes), LF or CRLF line ends, an optional
// UTF-8 byte order mark. Blank lines are skipped.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReader(r)
	var bomLen int64
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		_, _ = br.Discard(len(bom))
		bomLen = int64(len(bom))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked per line, to report and skip bad lines
	cr.ReuseRecord = true
	return &Reader{csv: cr, bomLen: bomLen}
}

// HeaderLine is the line number of the header row, 0 if the file has none
// (known once Next has returned the first line or error).
func (r *Reader) HeaderLine() int { return r.headerNo }

// Offset is how many bytes of the input have been consumed, for progress.
func (r *Reader) Offset() int64 { return r.bomLen + r.csv.InputOffset() }

// Next returns the next line. A malformed line yields a *LineError, after
// which Next may be called again; io.EOF ends the file; any other error is a
// read error.
//
// The first record is a header, and skipped, when it looks like no data:
// its first field contains no "@" and its second field (if any) is no date.
func (r *Reader) Next() (Line, error) {
	for {
		rec, err := r.csv.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				r.started = true
				return Line{}, &LineError{No: pe.StartLine, Reason: "invalid CSV: " + pe.Err.Error()}
			}
			return Line{}, err
		}
		no, _ := r.csv.FieldPos(0)
		if !r.started {
			r.started = true
			if isHeader(rec) {
				r.headerNo = no
				continue
			}
		}
		return parseRecord(no, rec)
	}
}

func isHeader(rec []string) bool {
	if strings.Contains(rec[0], "@") {
		return false
	}
	if len(rec) > 1 {
		if _, err := ParseDate(rec[1]); err == nil {
			return false
		}
	}
	return true
}

func parseRecord(no int, rec []string) (Line, error) {
	bad := func(format string, args ...any) (Line, error) {
		return Line{}, &LineError{No: no, Reason: fmt.Sprintf(format, args...)}
	}
	if len(rec) != 3 {
		return bad("expected 3 fields (Email, Date, Reason), found %d", len(rec))
	}
	for i, name := range []string{"Email", "Date", "Reason"} {
		if !utf8.ValidString(rec[i]) {
			return bad("%s is not valid UTF-8", name)
		}
		if strings.ContainsRune(rec[i], 0) {
			return bad("%s contains a NUL character", name)
		}
	}
	email := strings.TrimSpace(rec[0])
	switch {
	case email == "":
		return bad("empty email address")
	case !strings.Contains(email, "@"):
		return bad("email address has no @")
	}
	date, err := ParseDate(rec[1])
	if err != nil {
		return bad("%s", err)
	}
	return Line{No: no, Email: email, Date: date, Reason: strings.TrimSpace(rec[2])}, nil
}

// Counts tallies an import. Lines that were applied fall in exactly one of
// Updated, AlreadyOptedOut and Unknown.
type Counts struct {
	Lines           int64 // lines read, header excluded, malformed included
	Malformed       int64 // lines skipped as malformed
	Updated         int64 // lines that opted out at least one contact
	AlreadyOptedOut int64 // lines whose contacts had all opted out already
	Unknown         int64 // lines whose address matched no contact
	ContactsUpdated int64 // contacts opted out (an address can match several)
	// FirstDate and LastDate are the range of the Date column over the applied
	// lines (zero when none was applied): reported, never stored, since an
	// opt-out takes the time of the import as its update_timestamp.
	FirstDate, LastDate time.Time
}

// Add adds the counts of one batch.
func (c *Counts) Add(o Counts) {
	c.Lines += o.Lines
	c.Malformed += o.Malformed
	c.Updated += o.Updated
	c.AlreadyOptedOut += o.AlreadyOptedOut
	c.Unknown += o.Unknown
	c.ContactsUpdated += o.ContactsUpdated
	c.addDates(o.FirstDate, o.LastDate)
}

// addDates widens the date range to [first, last] (zero values ignored).
func (c *Counts) addDates(first, last time.Time) {
	if !first.IsZero() && (c.FirstDate.IsZero() || first.Before(c.FirstDate)) {
		c.FirstDate = first
	}
	if !last.IsZero() && (c.LastDate.IsZero() || last.After(c.LastDate)) {
		c.LastDate = last
	}
}

// ApplyFunc applies one batch, atomically, and returns its Updated,
// AlreadyOptedOut, Unknown and ContactsUpdated counts.
type ApplyFunc func(ctx context.Context, batch []Line) (Counts, error)

// Options tune Import.
type Options struct {
	BatchSize   int                                  // lines per batch; 500 if 0
	Pause       time.Duration                        // wait between batches
	OnMalformed func(*LineError)                     // called for each malformed line
	OnBatch     func(total Counts)                   // called after each applied batch
	sleep       func(context.Context, time.Duration) // for tests
}

// DefaultBatchSize is the number of lines per batch (and transaction).
const DefaultBatchSize = 500

// ErrInterrupted is returned (wrapped with the cause) when ctx is done
// before the whole file has been applied.
var ErrInterrupted = errors.New("interrupted")

// pause waits for d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Import reads r to the end and applies its lines in batches. ctx is checked
// between batches only: a batch that has started is applied to the end (it is
// given a context without ctx's cancellation), so interrupting keeps every
// batch applied so far and nothing half-done (a pause between batches ends at
// once). The returned counts cover the
// applied batches (and the lines read, malformed included).
func Import(ctx context.Context, r *Reader, apply ApplyFunc, opt Options) (Counts, error) {
	size := opt.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	sleep := opt.sleep
	if sleep == nil {
		sleep = pause
	}
	var total Counts
	batch := make([]Line, 0, size)
	batches := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if batches > 0 && opt.Pause > 0 {
			sleep(ctx, opt.Pause)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w (%w)", ErrInterrupted, context.Cause(ctx))
		}
		got, err := apply(context.WithoutCancel(ctx), batch)
		if err != nil {
			return fmt.Errorf("batch of lines %d-%d: %w", batch[0].No, batch[len(batch)-1].No, err)
		}
		batches++
		total.Updated += got.Updated
		total.AlreadyOptedOut += got.AlreadyOptedOut
		total.Unknown += got.Unknown
		total.ContactsUpdated += got.ContactsUpdated
		for _, l := range batch {
			total.addDates(l.Date, l.Date)
		}
		batch = batch[:0]
		if opt.OnBatch != nil {
			opt.OnBatch(total)
		}
		return nil
	}
	for {
		line, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			total.Lines++
			total.Malformed++
			if opt.OnMalformed != nil {
				opt.OnMalformed(le)
			}
			continue
		case err != nil:
			return total, fmt.Errorf("read: %w", err)
		}
		total.Lines++
		batch = append(batch, line)
		if len(batch) == size {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}
