package main

// `ctms optout import`: applies a suppression list, the job the Python CTMS
// does with suppression-list/csv2optout.py and hand-run SQL files.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ctms-go/ctms/internal/optout"
)

type optoutCmd struct {
	Import optoutImportCmd `cmd:"" help:"Opt the contacts of a suppression-list CSV out of e-mail."`
}

type optoutImportCmd struct {
	File      csvFileArg    `arg:"" name:"file" help:"Suppression list: CSV with the columns Email, Date, Reason; header row optional."`
	BatchSize int           `name:"batch-size" default:"500" help:"Lines per transaction."`
	Pause     time.Duration `default:"0s" help:"Wait this long between batches (e.g. 100ms) to spare the database and its replicas."`
}

// Help is the detailed --help text (kong.HelpProvider).
func (c *optoutImportCmd) Help() string {
	return "Reads FILE, a CSV with the columns \"Email\",\"Date\",\"Reason\" (header row optional, " +
		"detected when the first row has no \"@\" in its first column and no date in its second; " +
		"dates like " + optout.DateExample + ", 12-hour clock, taken as UTC). Each address is matched " +
		"case-insensitively against contacts' primary e-mails and FxA primary e-mails. Every matched " +
		"contact that has not opted out gets has_opted_out_of_email = true, unsubscribe_reason = Reason " +
		"(NULL if empty) and update_timestamp = the time of the import, so that /updates reports it " +
		"also to a consumer already past the CSV's dates (the summary reports their range); contacts that have opted " +
		"out, even while the import runs, keep their reason and timestamp. When several lines match one " +
		"contact, the first one counts.\n\n" +
		"Lines are applied in batches, one transaction each, with progress on stderr. Interrupting " +
		"(Ctrl-C, SIGTERM) stops after the running batch, keeping what was committed; running the " +
		"same import again completes it and changes nothing that was done. The summary on stdout " +
		"counts lines: updated (opted out at least one contact), already opted out, unknown (no " +
		"such contact), malformed. Malformed lines (wrong number of columns, empty address or no \"@\", " +
		"bad date, invalid CSV) are reported on stderr by line number and skipped. E-mail addresses " +
		"are never printed.\n\n" +
		"Needs CTMS_DB_URL and CTMS_SECRET_KEY. Exit status: 0 when the file was applied (even " +
		"with malformed lines skipped), 1 on a read or database error, 2 on a usage error (including " +
		"a FILE that does not exist), 130 when interrupted."
}

// csvFileArg is a FILE argument that must exist and not be a directory, as
// click.Path(exists=True, dir_okay=False) checks.
type csvFileArg string

func (f csvFileArg) Validate() error {
	fi, err := os.Stat(string(f))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return invalidValue("FILE", fmt.Sprintf("File '%s' does not exist.", f))
	case err == nil && fi.IsDir():
		return invalidValue("FILE", fmt.Sprintf("File '%s' is a directory.", f))
	}
	return nil // other errors are reported when opening it
}

func (c *optoutImportCmd) Validate() error {
	if c.BatchSize < 1 {
		return invalidValue("--batch-size", fmt.Sprintf("%d is not in the range x>=1.", c.BatchSize))
	}
	if c.Pause < 0 {
		return invalidValue("--pause", "must not be negative.")
	}
	return nil
}

func (c *optoutImportCmd) Run(sio stdio) error {
	f, err := os.Open(string(c.File))
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64 // 0 when unknown (a pipe): no percentage then
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}

	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		// The first signal ends the import between batches; after it the
		// default action is back, so a second one ends the process at once.
		sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-sigCtx.Done()
			stop()
		}()

		bar := &optoutProgress{w: sio.Err, size: size, tty: writerIsTerminal(sio.Err)}
		r := optout.NewReader(f)
		total, err := optout.Import(sigCtx, r, env.st.ApplyOptoutBatch, optout.Options{
			BatchSize: c.BatchSize,
			Pause:     c.Pause,
			OnMalformed: func(e *optout.LineError) {
				bar.clear()
				fmt.Fprintf(sio.Err, "Skipped %s\n", e)
			},
			OnBatch: func(total optout.Counts) { bar.update(r.Offset(), total) },
		})
		if err == nil {
			bar.update(r.Offset(), total) // 100%, malformed lines at the end included
		}
		bar.finish()
		printOptoutSummary(sio.Out, total, r.HeaderLine())
		if errors.Is(err, optout.ErrInterrupted) {
			fmt.Fprintln(sio.Err, "Interrupted: the batches applied so far are committed. "+
				"Run the same command again to apply the rest.")
			return exitCode(130)
		}
		return err
	})
}

// printOptoutSummary prints the counts of the batches applied (and of the
// malformed lines seen).
func printOptoutSummary(w io.Writer, c optout.Counts, headerLine int) {
	lines := c.Updated + c.AlreadyOptedOut + c.Unknown + c.Malformed
	header := ""
	if headerLine > 0 {
		header = fmt.Sprintf(" (header row on line %d not counted)", headerLine)
	}
	fmt.Fprintf(w, "Lines:               %d%s\n", lines, header)
	fmt.Fprintf(w, "Updated:             %d (%d contacts)\n", c.Updated, c.ContactsUpdated)
	fmt.Fprintf(w, "Already opted out:   %d\n", c.AlreadyOptedOut)
	fmt.Fprintf(w, "Unknown (not found): %d\n", c.Unknown)
	fmt.Fprintf(w, "Malformed (skipped): %d\n", c.Malformed)
	if !c.FirstDate.IsZero() {
		const layout = "2006-01-02 15:04"
		fmt.Fprintf(w, "CSV dates:           %s to %s UTC (not stored: update_timestamp is the time of the import)\n",
			c.FirstDate.Format(layout), c.LastDate.Format(layout))
	}
}

// optoutProgress shows progress through the file on stderr: a bar redrawn
// in place on a terminal, otherwise a line at every tenth of the file.
type optoutProgress struct {
	w       io.Writer
	size    int64 // bytes; 0 if unknown
	tty     bool
	drawn   int    // length of the bar on screen, 0 when cleared
	lastPct int    // non-terminal: last percentage printed
	last    string // non-terminal: last line printed
}

const optoutBarWidth = 30

func (p *optoutProgress) update(offset int64, c optout.Counts) {
	pct := -1
	if p.size > 0 {
		pct = int(min(100, offset*100/p.size))
	}
	text := fmt.Sprintf("%d lines, %d updated, %d already opted out, %d unknown, %d malformed",
		c.Updated+c.AlreadyOptedOut+c.Unknown+c.Malformed, c.Updated, c.AlreadyOptedOut, c.Unknown, c.Malformed)
	if pct >= 0 {
		filled := pct * optoutBarWidth / 100
		text = fmt.Sprintf("[%s%s] %3d%% %s", strings.Repeat("#", filled),
			strings.Repeat("-", optoutBarWidth-filled), pct, text)
	}
	if p.tty {
		p.clear()
		fmt.Fprint(p.w, text)
		p.drawn = len(text)
		return
	}
	if text != p.last && (pct < 0 || pct/10 > p.lastPct/10) {
		fmt.Fprintln(p.w, text)
		p.lastPct, p.last = pct, text
	}
}

// clear blanks the bar so that a message can take its line.
func (p *optoutProgress) clear() {
	if p.drawn == 0 {
		return
	}
	fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.drawn)+"\r")
	p.drawn = 0
}

// finish ends the bar's line on a terminal.
func (p *optoutProgress) finish() {
	if p.drawn > 0 {
		fmt.Fprintln(p.w)
		p.drawn = 0
	}
}

// writerIsTerminal reports whether w is a character device (a terminal).
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
