package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
)

// setupOptout gives the test its own migrated database and points the
// command's configuration at it. Not parallel: it sets environment variables.
func setupOptout(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := testdb.NewDatabase(t)
	t.Setenv("CTMS_DB_URL", url)
	t.Setenv("CTMS_SECRET_KEY", "test-secret-key")
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

var optoutOldTimestamp = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

type optoutContact struct {
	email    string
	fxaEmail string // no fxa row if empty
	optedOut *bool
	reason   *string
}

// insertOptoutContact creates a contact last updated at optoutOldTimestamp.
func insertOptoutContact(t *testing.T, pool *pgxpool.Pool, c optoutContact) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := pool.Exec(t.Context(),
		`INSERT INTO emails (email_id, primary_email, has_opted_out_of_email, unsubscribe_reason,
		                     create_timestamp, update_timestamp)
		 VALUES ($1, $2, $3, $4, $5, $5)`,
		id, c.email, c.optedOut, c.reason, optoutOldTimestamp)
	require.NoError(t, err)
	if c.fxaEmail != "" {
		_, err = pool.Exec(t.Context(),
			`INSERT INTO fxa (email_id, fxa_id, primary_email) VALUES ($1, $2, $3)`,
			id, "fxa-"+id.String()[:8], c.fxaEmail)
		require.NoError(t, err)
	}
	return id
}

type optoutState struct {
	OptedOut *bool
	Reason   *string
	Updated  time.Time
}

func optoutStateOf(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) optoutState {
	t.Helper()
	var s optoutState
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT has_opted_out_of_email, unsubscribe_reason, update_timestamp FROM emails WHERE email_id = $1`, id).
		Scan(&s.OptedOut, &s.Reason, &s.Updated))
	s.Updated = s.Updated.UTC()
	return s
}

// allOptoutStates is every contact's state, to show that a run changed nothing.
func allOptoutStates(t *testing.T, pool *pgxpool.Pool) map[uuid.UUID]optoutState {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT email_id FROM emails`)
	require.NoError(t, err)
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	states := map[uuid.UUID]optoutState{}
	for _, id := range ids {
		states[id] = optoutStateOf(t, pool, id)
	}
	return states
}

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "suppression.csv")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func optoutSummary(lines, updated, contacts, already, unknown, malformed int, header string) string {
	return fmt.Sprintf("Lines:               %d%s\n"+
		"Updated:             %d (%d contacts)\n"+
		"Already opted out:   %d\n"+
		"Unknown (not found): %d\n"+
		"Malformed (skipped): %d\n", lines, header, updated, contacts, already, unknown, malformed)
}

// optoutDates is the summary line reporting the range of the CSV's dates.
func optoutDates(first, last string) string {
	return fmt.Sprintf("CSV dates:           %s to %s UTC (not stored: update_timestamp is the time of the import)\n", first, last)
}

// importedAt stands, in expected states, for "the time of the import".
var importedAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// runImport runs the command and returns, with its result, a function that
// checks that a contact's update_timestamp is the time of that run and
// replaces it by importedAt (for comparison with expected states).
func runImport(t *testing.T, args ...string) (cliResult, func(optoutState) optoutState) {
	t.Helper()
	before := time.Now().Add(-time.Millisecond)
	res := runCLI(t, "", append([]string{"optout", "import"}, args...)...)
	after := time.Now().Add(time.Millisecond)
	return res, func(s optoutState) optoutState {
		if !s.Updated.Before(before) && !s.Updated.After(after) {
			s.Updated = importedAt
		}
		return s
	}
}

func optedOut(reason *string, at time.Time) optoutState {
	return optoutState{OptedOut: new(true), Reason: reason, Updated: at}
}

func TestOptoutImport(t *testing.T) {
	pool := setupOptout(t)
	alice := insertOptoutContact(t, pool, optoutContact{email: "Alice@Example.com", optedOut: new(false)})
	bob := insertOptoutContact(t, pool, optoutContact{email: "bob@example.com", fxaEmail: "Bob.FxA@Example.ORG", optedOut: new(false)})
	carol := insertOptoutContact(t, pool, optoutContact{email: "carol@example.com", optedOut: new(true), reason: new("asked by phone")})
	dave := insertOptoutContact(t, pool, optoutContact{email: "dave@example.com"}) // has_opted_out_of_email NULL
	erin := insertOptoutContact(t, pool, optoutContact{email: "erin@example.com", fxaEmail: "ERIN-fxa@example.com", optedOut: new(false)})
	frank := insertOptoutContact(t, pool, optoutContact{email: "frank@example.com", optedOut: new(false)})
	shared := insertOptoutContact(t, pool, optoutContact{email: "Shared@example.com", optedOut: new(false)})
	sharedFxa := insertOptoutContact(t, pool, optoutContact{email: "other@example.com", fxaEmail: "shared@EXAMPLE.com", optedOut: new(false)})
	untouched := insertOptoutContact(t, pool, optoutContact{email: "untouched@example.com", fxaEmail: "untouched-fxa@example.com", optedOut: new(false)})

	csv := "\uFEFF\"Email\",\"Date\",\"Reason\"\r\n" +
		"\"alice@example.COM\",\"2024-03-12 05:17 PM\",\"Hard bounce, mailbox full\"\r\n" + // 2 updated
		"\"bob.fxa@example.org\",\"2024-03-13 09:05 AM\",\"Spam complaint\"\r\n" + // 3 updated via fxa
		"\"CAROL@example.com\",\"2024-03-13 10:00 AM\",\"Unsubscribed\"\r\n" + // 4 already opted out
		"dave@example.com,2024-03-14 12:30 AM,\"Multi-line\r\nreason\"\r\n" + // 5 updated (two lines)
		"erin@example.com,2024-03-15 01:00 PM,First\r\n" + // 7 updated
		"malformed@example.com,2024-03-15 01:00 PM\r\n" + // 8 malformed: 2 fields
		"erin-fxa@example.com,2024-03-16 01:00 PM,Second\r\n" + // 9 already (erin, by line 7)
		"frank@example.com,2024-03-17 11:59 PM,\r\n" + // 10 updated, no reason
		"nobody@example.com,2024-03-17 11:59 PM,Bounce\r\n" + // 11 unknown
		",2024-03-17 11:59 PM,Bounce\r\n" + // 12 malformed: empty e-mail
		"shared@example.com,2024-03-18 08:00 AM,Shared\r\n" + // 13 updated: two contacts
		"ghost@example.net,2024-03-18 08:00 AM,Bounce\r\n" + // 14 unknown
		"bad-date@example.com,2024-03-18 25:00,Bounce\r\n" // 15 malformed: date
	path := writeCSV(t, csv)

	res, stamped := runImport(t, "--batch-size", "3", path)
	require.Equal(t, 0, res.code, res.errOut)
	require.Equal(t, optoutSummary(13, 6, 7, 2, 2, 3, " (header row on line 1 not counted)")+
		optoutDates("2024-03-12 17:17", "2024-03-18 08:00"), res.out)
	require.Contains(t, res.errOut, "Skipped line 8: expected 3 fields (Email, Date, Reason), found 2\n")
	require.Contains(t, res.errOut, "Skipped line 12: empty email address\n")
	require.Contains(t, res.errOut, `Skipped line 15: unparsable date "2024-03-18 25:00" (expected a date like 2024-03-12 05:17 PM)`+"\n")
	require.Contains(t, res.errOut, "] 100% 13 lines, 6 updated, 2 already opted out, 2 unknown, 3 malformed\n")
	require.NotContains(t, res.out+res.errOut, "@", "no e-mail address is printed")

	// update_timestamp is the time of the import, not the CSV's date: a
	// /updates consumer whose window is already past 2024 still gets them.
	want := map[uuid.UUID]optoutState{
		alice:     optedOut(new("Hard bounce, mailbox full"), importedAt),
		bob:       optedOut(new("Spam complaint"), importedAt),
		carol:     optedOut(new("asked by phone"), optoutOldTimestamp),
		dave:      optedOut(new("Multi-line\nreason"), importedAt),
		erin:      optedOut(new("First"), importedAt),
		frank:     optedOut(nil, importedAt),
		shared:    optedOut(new("Shared"), importedAt),
		sharedFxa: optedOut(new("Shared"), importedAt),
		untouched: {OptedOut: new(false), Updated: optoutOldTimestamp},
	}
	stored := allOptoutStates(t, pool)
	states := map[uuid.UUID]optoutState{}
	for id, s := range stored {
		states[id] = stamped(s)
	}
	require.Equal(t, want, states)

	t.Run("Rerun", func(t *testing.T) {
		res := runCLI(t, "", "optout", "import", path)
		require.Equal(t, 0, res.code, res.errOut)
		require.Equal(t, optoutSummary(13, 0, 0, 8, 2, 3, " (header row on line 1 not counted)")+
			optoutDates("2024-03-12 17:17", "2024-03-18 08:00"), res.out)
		require.Equal(t, stored, allOptoutStates(t, pool), "a re-run changes nothing")
	})
}

func TestOptoutImportNoHeader(t *testing.T) {
	pool := setupOptout(t)
	id := insertOptoutContact(t, pool, optoutContact{email: "jane@example.com", optedOut: new(false)})
	path := writeCSV(t, "JANE@example.com,2024-03-12 05:17 pm,Bounce\nnobody@example.com,2024-03-12 05:17 PM,Bounce\n")

	res, stamped := runImport(t, path)
	require.Equal(t, 0, res.code, res.errOut)
	require.Equal(t, optoutSummary(2, 1, 1, 0, 1, 0, "")+optoutDates("2024-03-12 17:17", "2024-03-12 17:17"), res.out)
	require.Equal(t, optedOut(new("Bounce"), importedAt), stamped(optoutStateOf(t, pool, id)))
}

func TestOptoutImportDuplicatesInOneBatch(t *testing.T) {
	pool := setupOptout(t)
	id := insertOptoutContact(t, pool, optoutContact{email: "jane@example.com", fxaEmail: "jane.fxa@example.com", optedOut: new(false)})
	path := writeCSV(t, "jane.fxa@example.com,2024-03-12 05:17 PM,First\n"+
		"jane@example.com,2024-03-10 05:17 PM,Second\n"+
		"Jane@Example.com,2024-03-11 05:17 PM,Third\n")

	res, stamped := runImport(t, path)
	require.Equal(t, 0, res.code, res.errOut)
	require.Equal(t, optoutSummary(3, 1, 1, 2, 0, 0, "")+optoutDates("2024-03-10 17:17", "2024-03-12 17:17"), res.out)
	require.Equal(t, optedOut(new("First"), importedAt), stamped(optoutStateOf(t, pool, id)), "the first line wins")
}

// TestOptoutImportConcurrentOptout opts a contact out while the import waits
// for its row lock: the import must leave that opt-out alone.
func TestOptoutImportConcurrentOptout(t *testing.T) {
	pool := setupOptout(t)
	id := insertOptoutContact(t, pool, optoutContact{email: "race@example.com", optedOut: new(false)})
	path := writeCSV(t, "race@example.com,2024-03-12 05:17 PM,Bounce\n")

	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer tx.Rollback(context.WithoutCancel(t.Context())) //nolint:errcheck
	concurrent := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err = tx.Exec(t.Context(),
		`UPDATE emails SET has_opted_out_of_email = true, unsubscribe_reason = 'API', update_timestamp = $2
		 WHERE email_id = $1`, id, concurrent)
	require.NoError(t, err)

	done := make(chan cliResult, 1)
	go func() { done <- runCLI(t, "", "optout", "import", path) }()
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).
			Scan(&waiting))
		return waiting > 0
	}, 10*time.Second, 10*time.Millisecond, "the import waits for the row lock")
	require.NoError(t, tx.Commit(t.Context()))

	res := <-done
	require.Equal(t, 0, res.code, res.errOut)
	require.Equal(t, optoutSummary(1, 0, 0, 1, 0, 0, "")+optoutDates("2024-03-12 17:17", "2024-03-12 17:17"), res.out)
	require.Equal(t, optedOut(new("API"), concurrent), optoutStateOf(t, pool, id))
}

// TestOptoutImportInterrupted sends SIGINT between batches: the committed
// batches stay, the command exits 130, and a re-run applies the rest.
func TestOptoutImportInterrupted(t *testing.T) {
	pool := setupOptout(t)
	// Keep the test process alive whatever the timing of the signal.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, os.Interrupt)
	defer signal.Stop(guard)

	var csv strings.Builder
	for i := range 6 {
		insertOptoutContact(t, pool, optoutContact{email: fmt.Sprintf("user%d@example.com", i), optedOut: new(false)})
		fmt.Fprintf(&csv, "user%d@example.com,2024-03-12 05:17 PM,Bounce\n", i)
	}
	path := writeCSV(t, csv.String())
	countOptedOut := func() int {
		var n int
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT count(*) FROM emails WHERE has_opted_out_of_email`).Scan(&n))
		return n
	}

	done := make(chan cliResult, 1)
	go func() { done <- runCLI(t, "", "optout", "import", "--batch-size", "2", "--pause", "1h", path) }()
	require.Eventually(t, func() bool { return countOptedOut() == 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))

	var res cliResult
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the import did not stop at the interruption")
	}
	require.Equal(t, 130, res.code, res.errOut)
	require.Equal(t, optoutSummary(2, 2, 2, 0, 0, 0, "")+optoutDates("2024-03-12 17:17", "2024-03-12 17:17"), res.out)
	require.Contains(t, res.errOut, "Interrupted: the batches applied so far are committed.")
	require.Equal(t, 2, countOptedOut())

	res = runCLI(t, "", "optout", "import", path)
	require.Equal(t, 0, res.code, res.errOut)
	require.Equal(t, optoutSummary(6, 4, 4, 2, 0, 0, "")+optoutDates("2024-03-12 17:17", "2024-03-12 17:17"), res.out)
	require.Equal(t, 6, countOptedOut())
}

func TestOptoutImportErrors(t *testing.T) {
	t.Run("MissingFile", func(t *testing.T) {
		res := runCLI(t, "", "optout", "import", "/nonexistent/list.csv")
		require.Equal(t, 2, res.code)
		require.Empty(t, res.out)
		require.True(t, strings.HasPrefix(res.errOut, "Usage: ctms optout import <file> [flags]\n"), res.errOut)
		require.True(t, strings.HasSuffix(res.errOut, "\nError: Invalid value for 'FILE': File '/nonexistent/list.csv' does not exist.\n"), res.errOut)
	})
	t.Run("Directory", func(t *testing.T) {
		dir := t.TempDir()
		res := runCLI(t, "", "optout", "import", dir)
		require.Equal(t, 2, res.code)
		require.Contains(t, res.errOut, "Error: Invalid value for 'FILE': File '"+dir+"' is a directory.\n")
	})
	t.Run("BadBatchSize", func(t *testing.T) {
		res := runCLI(t, "", "optout", "import", "--batch-size", "0", writeCSV(t, ""))
		require.Equal(t, 2, res.code)
		require.Contains(t, res.errOut, "Error: Invalid value for '--batch-size': 0 is not in the range x>=1.\n")
	})
	t.Run("QueryFails", func(t *testing.T) {
		pool := setupOptout(t)
		_, err := pool.Exec(t.Context(), `ALTER TABLE fxa RENAME TO fxa_elsewhere`)
		require.NoError(t, err)
		res := runCLI(t, "", "optout", "import", "--batch-size", "1",
			writeCSV(t, "Email,Date,Reason\na@example.com,2024-03-12 05:17 PM,r\nb@example.com,2024-03-12 05:17 PM,r\n"))
		require.Equal(t, 1, res.code)
		require.Equal(t, optoutSummary(0, 0, 0, 0, 0, 0, " (header row on line 1 not counted)"), res.out)
		require.Contains(t, res.errOut, `Error: batch of lines 2-2: ERROR: relation "fxa" does not exist`)
	})
	t.Run("DatabaseDown", func(t *testing.T) {
		t.Setenv("CTMS_DB_URL", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
		t.Setenv("CTMS_SECRET_KEY", "test-secret-key")
		res := runCLI(t, "", "optout", "import", writeCSV(t, "a@example.com,2024-03-12 05:17 PM,r\n"))
		require.Equal(t, 1, res.code)
		require.Contains(t, res.errOut, "Error: connect to database: ")
	})
}
