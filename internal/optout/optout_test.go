package optout

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]string{
		"2024-03-12 05:17 PM":    "2024-03-12 17:17:00",
		"2024-03-12 5:17 PM":     "2024-03-12 17:17:00",
		"2024-03-12 05:17 pm":    "2024-03-12 17:17:00",
		"2024-03-12 05:17 AM":    "2024-03-12 05:17:00",
		"2024-03-12 12:05 AM":    "2024-03-12 00:05:00",
		"2024-03-12 12:05 PM":    "2024-03-12 12:05:00",
		" 2024-03-12 11:59 PM ":  "2024-03-12 23:59:00",
		"2024-03-12 05:17:42 PM": "2024-03-12 17:17:42",
		"2024-03-12 17:17":       "2024-03-12 17:17:00",
		"2024-03-12 00:00:01":    "2024-03-12 00:00:01",
		"2024-02-29 01:00 am":    "2024-02-29 01:00:00",
	} {
		got, err := ParseDate(in)
		require.NoError(t, err, in)
		require.Equal(t, utc(want), got, in)
		require.Equal(t, time.UTC, got.Location(), in)
	}
	for _, in := range []string{
		"", "yesterday", "2024-03-12", "2024-03-12 17:17 PM", "2024-03-12 13:00 AM",
		"2023-02-29 01:00 AM", "12/03/2024 05:17 PM", "2024-03-12T17:17:00Z", "2024-03-12 05:17 XM",
	} {
		_, err := ParseDate(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), "expected a date like 2024-03-12 05:17 PM", in)
	}
}

// readAll returns the lines and the malformed-line errors of a file.
func readAll(t *testing.T, in string) ([]Line, []string, *Reader) {
	t.Helper()
	r := NewReader(strings.NewReader(in))
	var lines []Line
	var bad []string
	for {
		l, err := r.Next()
		if err == io.EOF {
			return lines, bad, r
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le.Error())
			continue
		}
		require.NoError(t, err)
		lines = append(lines, l)
	}
}

func TestReaderHeaderDetection(t *testing.T) {
	data := "a@example.com,2024-03-12 05:17 PM,Bounce\r\n"
	for name, tc := range map[string]struct {
		in        string
		header    int
		firstLine int
	}{
		"QuotedHeader":   {"\"Email\",\"Date\",\"Reason\"\r\n" + data, 1, 2},
		"PlainHeader":    {"email,date,reason\n" + data, 1, 2},
		"OtherHeader":    {"Address,When,Why\n" + data, 1, 2},
		"NoHeader":       {data, 0, 1},
		"BOMHeader":      {"\uFEFF\"Email\",\"Date\",\"Reason\"\r\n" + data, 1, 2},
		"BOMNoHeader":    {"\uFEFF" + data, 0, 1},
		"BlankLines":     {"\n\nEmail,Date,Reason\n\n" + data, 3, 5},
		"HeaderOnlyOnce": {"Email,Date,Reason\nEmail,Date,Reason\n" + data, 1, 3},
	} {
		t.Run(name, func(t *testing.T) {
			lines, bad, r := readAll(t, tc.in)
			require.Equal(t, tc.header, r.HeaderLine())
			require.Len(t, lines, 1)
			require.Equal(t, Line{No: tc.firstLine, Email: "a@example.com", Date: utc("2024-03-12 17:17:00"), Reason: "Bounce"}, lines[0])
			if name == "HeaderOnlyOnce" {
				require.Equal(t, []string{"line 2: email address has no @"}, bad)
			} else {
				require.Empty(t, bad)
			}
		})
	}

	t.Run("MalformedFirstDataLineIsNoHeader", func(t *testing.T) {
		// A first line with a date is data even without "@" (and then malformed).
		lines, bad, r := readAll(t, "nobody,2024-03-12 05:17 PM,x\n"+data)
		require.Zero(t, r.HeaderLine())
		require.Len(t, lines, 1)
		require.Equal(t, []string{"line 1: email address has no @"}, bad)
	})
	t.Run("Empty", func(t *testing.T) {
		lines, bad, r := readAll(t, "")
		require.Empty(t, lines)
		require.Empty(t, bad)
		require.Zero(t, r.HeaderLine())
	})
}

func TestReaderQuotingAndLineNumbers(t *testing.T) {
	in := "\"Email\",\"Date\",\"Reason\"\r\n" +
		"\"Jane.Doe@Example.com\",\"2024-03-12 05:17 PM\",\"Hard bounce, mailbox full\"\r\n" +
		"\"multi@example.com\",\"2024-03-13 09:00 AM\",\"line one\r\nline two\"\r\n" +
		"  spaced@example.com  ,2024-03-14 10:30 PM,\"  Reason with \"\"quotes\"\" \"\n" +
		"noreason@example.com,2024-03-15 01:02 AM,\n" +
		"\"q\"\"uote@example.com\",2024-03-16 01:02 AM,x" // no final newline
	lines, bad, r := readAll(t, in)
	require.Empty(t, bad)
	require.Equal(t, 1, r.HeaderLine())
	require.Equal(t, []Line{
		{No: 2, Email: "Jane.Doe@Example.com", Date: utc("2024-03-12 17:17:00"), Reason: "Hard bounce, mailbox full"},
		{No: 3, Email: "multi@example.com", Date: utc("2024-03-13 09:00:00"), Reason: "line one\nline two"},
		{No: 5, Email: "spaced@example.com", Date: utc("2024-03-14 22:30:00"), Reason: `Reason with "quotes"`},
		{No: 6, Email: "noreason@example.com", Date: utc("2024-03-15 01:02:00"), Reason: ""},
		{No: 7, Email: `q"uote@example.com`, Date: utc("2024-03-16 01:02:00"), Reason: "x"},
	}, lines)
	require.Equal(t, int64(len(in)), r.Offset())
}

func TestReaderMalformedLines(t *testing.T) {
	in := "Email,Date,Reason\n" +
		"ok1@example.com,2024-03-12 05:17 PM,r\n" + // 2
		"two@example.com,2024-03-12 05:17 PM\n" + // 3
		"four@example.com,2024-03-12 05:17 PM,r,extra\n" + // 4
		",2024-03-12 05:17 PM,r\n" + // 5
		"   ,2024-03-12 05:17 PM,r\n" + // 6
		"secret@example.com,someday,r\n" + // 7
		"secret@example.com,2024-13-12 05:17 PM,r\n" + // 8
		"no-at-sign,2024-03-12 05:17 PM,r\n" + // 9
		"bare\"quote@example.com,2024-03-12 05:17 PM,r\n" + // 10
		"\"bad\"quote@example.com\",2024-03-12 05:17 PM,r\n" + // 11
		"bad\xffutf8@example.com,2024-03-12 05:17 PM,r\n" + // 12
		"nul@example.com,2024-03-12 05:17 PM,a\x00b\n" + // 13
		"ok2@example.com,2024-03-12 05:17 PM,r\n" // 14
	lines, bad, _ := readAll(t, in)
	require.Equal(t, []int{2, 14}, []int{lines[0].No, lines[1].No})
	require.Equal(t, []string{
		"line 3: expected 3 fields (Email, Date, Reason), found 2",
		"line 4: expected 3 fields (Email, Date, Reason), found 4",
		"line 5: empty email address",
		"line 6: empty email address",
		`line 7: unparsable date "SOMEDAY" (expected a date like 2024-03-12 05:17 PM)`,
		`line 8: unparsable date "2024-13-12 05:17 PM" (expected a date like 2024-03-12 05:17 PM)`,
		"line 9: email address has no @",
		`line 10: invalid CSV: bare " in non-quoted-field`,
		`line 11: invalid CSV: extraneous or missing " in quoted-field`,
		"line 12: Email is not valid UTF-8",
		"line 13: Reason contains a NUL character",
	}, bad)
	for _, b := range bad {
		require.NotContains(t, b, "example.com", "addresses are never echoed")
	}

	t.Run("UnterminatedQuoteAtEnd", func(t *testing.T) {
		lines, bad, _ := readAll(t, "a@example.com,2024-03-12 05:17 PM,r\n\"b@example.com,2024-03-12 05:17 PM,r\nc@example.com,x,y\n")
		require.Len(t, lines, 1)
		require.Equal(t, []string{`line 2: invalid CSV: extraneous or missing " in quoted-field`}, bad)
	})
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := NewReader(io.MultiReader(strings.NewReader("a@example.com,2024-03-12 05:17 PM,r\n"), iotest.ErrReader(boom)))
	_, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.ErrorIs(t, err, boom)
	var le *LineError
	require.False(t, errors.As(err, &le))
}

// csvLines builds a header-less file of n good lines.
func csvLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Repeat("x", i%3) + "user" + strconv.Itoa(i) + "@example.com,2024-03-12 05:17 PM,r\n")
	}
	return b.String()
}

// fakeApply counts every line as Updated and records batch sizes.
type fakeApply struct {
	sizes []int
	first []int
	err   error
	after func(batch int)
}

func (f *fakeApply) apply(ctx context.Context, batch []Line) (Counts, error) {
	if ctx.Err() != nil {
		return Counts{}, errors.New("apply got a cancelled context")
	}
	if f.err != nil && len(f.sizes) == 1 {
		return Counts{}, f.err
	}
	f.sizes = append(f.sizes, len(batch))
	f.first = append(f.first, batch[0].No)
	if f.after != nil {
		f.after(len(f.sizes))
	}
	n := int64(len(batch))
	return Counts{Updated: n - 1, Unknown: 1, ContactsUpdated: 2 * (n - 1)}, nil
}

func TestImportBatches(t *testing.T) {
	in := "Email,Date,Reason\n" + csvLines(5) + "bad line\n" + csvLines(6)
	var f fakeApply
	var malformed []string
	var progress []Counts
	var slept []time.Duration
	total, err := Import(t.Context(), NewReader(strings.NewReader(in)), f.apply, Options{
		BatchSize:   4,
		Pause:       time.Second,
		OnMalformed: func(e *LineError) { malformed = append(malformed, e.Error()) },
		OnBatch:     func(c Counts) { progress = append(progress, c) },
		sleep:       func(_ context.Context, d time.Duration) { slept = append(slept, d) },
	})
	require.NoError(t, err)
	require.Equal(t, []int{4, 4, 3}, f.sizes)
	require.Equal(t, []int{2, 6, 11}, f.first, "first line number of each batch")
	require.Equal(t, []string{"line 7: expected 3 fields (Email, Date, Reason), found 1"}, malformed)
	require.Equal(t, []time.Duration{time.Second, time.Second}, slept, "pause between batches only")
	date := time.Date(2024, 3, 12, 17, 17, 0, 0, time.UTC)
	require.Equal(t, Counts{Lines: 12, Malformed: 1, Updated: 8, Unknown: 3, ContactsUpdated: 16,
		FirstDate: date, LastDate: date}, total)
	require.Len(t, progress, 3)
	require.Equal(t, int64(3), progress[0].Updated)
	require.Equal(t, int64(8), progress[2].Updated)
}

func TestImportDefaultBatchSize(t *testing.T) {
	var f fakeApply
	total, err := Import(t.Context(), NewReader(strings.NewReader(csvLines(1001))), f.apply, Options{})
	require.NoError(t, err)
	require.Equal(t, []int{500, 500, 1}, f.sizes)
	require.Equal(t, int64(1001), total.Lines)
}

func TestImportNothingToApply(t *testing.T) {
	var f fakeApply
	total, err := Import(t.Context(), NewReader(strings.NewReader("Email,Date,Reason\nbad\n")), f.apply, Options{})
	require.NoError(t, err)
	require.Empty(t, f.sizes)
	require.Equal(t, Counts{Lines: 1, Malformed: 1}, total)
}

func TestImportInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The interruption arrives while batch 2 is being applied: batch 2 still
	// completes (with a live context), batch 3 is not started.
	f := fakeApply{after: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	total, err := Import(ctx, NewReader(strings.NewReader(csvLines(10))), f.apply, Options{BatchSize: 3})
	require.ErrorIs(t, err, ErrInterrupted)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []int{3, 3}, f.sizes)
	require.Equal(t, int64(4), total.Updated)
	require.Equal(t, int64(2), total.Unknown)
}

func TestImportInterruptedDuringPause(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var f fakeApply
	start := time.Now()
	_, err := Import(ctx, NewReader(strings.NewReader(csvLines(10))), f.apply, Options{
		BatchSize: 3,
		Pause:     time.Hour,
		OnBatch:   func(Counts) { cancel() },
	})
	require.ErrorIs(t, err, ErrInterrupted)
	require.Equal(t, []int{3}, f.sizes)
	require.Less(t, time.Since(start), time.Minute, "the pause ends at the interruption")
}

func TestImportApplyError(t *testing.T) {
	f := fakeApply{err: errors.New("connection reset")}
	total, err := Import(t.Context(), NewReader(strings.NewReader(csvLines(10))), f.apply, Options{BatchSize: 4})
	require.EqualError(t, err, "batch of lines 5-8: connection reset")
	require.Equal(t, []int{4}, f.sizes)
	require.Equal(t, int64(3), total.Updated)
}

func TestImportReadError(t *testing.T) {
	var f fakeApply
	r := NewReader(io.MultiReader(strings.NewReader(csvLines(5)), iotest.ErrReader(errors.New("EIO"))))
	_, err := Import(t.Context(), r, f.apply, Options{BatchSize: 2})
	require.EqualError(t, err, "read: EIO")
	require.Equal(t, []int{2, 2}, f.sizes, "the unfinished batch is not applied")
}
