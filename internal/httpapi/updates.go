package httpapi

import (
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/store"
)

const (
	defaultUpdatesLimit = 100
	maxUpdatesLimit     = 1000
	afterDecodeError    = "'after' param validation error when decoding value."
)

// Unix times of 0001-01-01 and 10000-01-01 (UTC): the range of Python's datetime.
const (
	minUnixSeconds = -62135596800
	maxUnixSeconds = 253402300800
)

// queryTime is a parsed start/end value; naive values (no offset) are read as
// UTC but echoed without an offset, as the Python CTMS does.
type queryTime struct {
	t     time.Time
	naive bool
}

// render writes the value as in the response body ("Z" for UTC).
func (q queryTime) render() string {
	if q.naive {
		return pyISO(q.t, "")
	}
	return pyISO(q.t, "Z")
}

// python writes the value as Python's isoformat() (used in `next`).
func (q queryTime) python() string {
	if q.naive {
		return pyISO(q.t, "")
	}
	return pyISO(q.t, "+00:00")
}

var dateTimePattern = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$`)

// parseQueryTime accepts what pydantic accepts for a datetime in the query:
// ISO-8601 with "T" or a space, optional seconds, fraction and offset, a date
// alone, or Unix seconds.
func parseQueryTime(s string) (queryTime, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "eEnN") {
		// As pydantic: beyond ±2e10 the number counts milliseconds, and only
		// years 1 to 9999 are valid (beyond, PostgreSQL refuses the value).
		if math.Abs(f) > 2e10 {
			f /= 1000
		}
		if f < minUnixSeconds || f >= maxUnixSeconds {
			return queryTime{}, false
		}
		sec, frac := int64(f), f-float64(int64(f))
		return queryTime{t: time.Unix(sec, int64(math.Round(frac*1e6))*1000).UTC()}, true
	}
	m := dateTimePattern.FindStringSubmatch(s)
	if m == nil || m[1] == "0000" { // Python has no year 0
		return queryTime{}, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	nanos := 0
	if m[7] != "" {
		frac := (m[7] + "000000000")[:9]
		nanos, _ = strconv.Atoi(frac)
		nanos = nanos / 1000 * 1000 // microsecond precision, like Python
	}
	loc, naive := time.UTC, true
	if z := m[8]; z != "" {
		naive = false
		if z != "Z" && z != "z" {
			digits := strings.ReplaceAll(z[1:], ":", "")
			h, _ := strconv.Atoi(digits[:2])
			mins := 0
			if len(digits) == 4 {
				mins, _ = strconv.Atoi(digits[2:])
			}
			off := h*3600 + mins*60
			if z[0] == '-' {
				off = -off
			}
			if off != 0 {
				loc = time.FixedZone("", off)
			}
		}
	}
	t := time.Date(n(1), time.Month(n(2)), n(3), n(4), n(5), n(6), nanos, loc)
	if t.Month() != time.Month(n(2)) || t.Day() != n(3) || n(4) > 23 || n(5) > 59 || n(6) > 59 {
		return queryTime{}, false // normalised by time.Date: not a real date
	}
	return queryTime{t: t, naive: naive}, true
}

// cursor is the `after` value: URL-safe base64 of "<email_id>,<update_timestamp>"
// with a space between date and time, as the Python CTMS writes it.
func encodeCursor(c store.Cursor) string {
	text := c.EmailID.String() + "," + strings.Replace(pyTimestamp(c.UpdateTimestamp), "T", " ", 1)
	return base64.URLEncoding.EncodeToString([]byte(text))
}

func decodeCursor(s string) (store.Cursor, string) {
	var raw []byte
	var err error
	if strings.ContainsAny(s, "-_") {
		raw, err = base64.URLEncoding.DecodeString(s)
	} else {
		raw, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || !utf8.Valid(raw) {
		return store.Cursor{}, afterDecodeError
	}
	idText, tsText, ok := strings.Cut(string(raw), ",")
	if !ok {
		return store.Cursor{}, "'after' cursor should be '<email_id>,<update_timestamp>'"
	}
	id, err := uuid.Parse(strings.TrimSpace(idText))
	if err != nil {
		return store.Cursor{}, "'after' cursor has an invalid email_id"
	}
	ts, ok := parseQueryTime(tsText)
	if !ok {
		return store.Cursor{}, "'after' cursor has an invalid timestamp"
	}
	return store.Cursor{EmailID: id, UpdateTimestamp: ts.t}, ""
}

// updatesError is the /updates-specific 422 shape: {"detail": {"errors": [...]}}.
func updatesError(param string, input any, message string) ValidationItem {
	return ValidationItem{Type: "value_error", Loc: []any{param}, Msg: "Value error, " + message, Input: input,
		Ctx: map[string]any{"error": message}, URL: "https://errors.pydantic.dev/2.11/v/value_error"}
}

// feedPage is the paging request of /updates and /deletions: start, end, limit
// and the cursor, parsed and checked alike for both feeds.
type feedPage struct {
	start, end queryTime
	endGiven   bool // false: end is now, moved back by the late-commit guard (feedEnd)
	limit      int
	after      *store.Cursor
}

// parseFeedPage parses the paging parameters as /updates always has (422s included).
func parseFeedPage(startParam string, endParam *string, limitParam *int, afterParam *string) (feedPage, error) {
	var problems []ValidationItem
	start, ok := parseQueryTime(startParam)
	if !ok {
		problems = append(problems, timeProblem("start", startParam))
	}
	end := queryTime{t: time.Now().UTC()}
	if endParam != nil {
		if end, ok = parseQueryTime(*endParam); !ok {
			problems = append(problems, timeProblem("end", *endParam))
		}
	}
	if len(problems) > 0 {
		return feedPage{}, invalid(problems...)
	}

	var custom []ValidationItem
	limit := defaultUpdatesLimit
	if limitParam != nil {
		limit = *limitParam
		switch {
		case limit <= 0: // 0 crashes the Python CTMS; we refuse it like a negative
			custom = append(custom, updatesError("limit", limit, `"limit" should be greater than 0`))
		case limit > maxUpdatesLimit:
			custom = append(custom, updatesError("limit", limit, `"limit" should be less than or equal to 1000`))
		}
	}
	var after *store.Cursor
	if afterParam != nil {
		c, problem := decodeCursor(*afterParam)
		if problem != "" {
			custom = append(custom, updatesError("after", *afterParam, problem))
		} else {
			after = &c
		}
	}
	if len(custom) > 0 {
		return feedPage{}, &Error{Status: 422, Detail: map[string]any{"errors": custom}}
	}
	return feedPage{start: start, end: end, endGiven: endParam != nil, limit: limit, after: after}, nil
}

// feedEnd is the late-commit guard of both feeds, applied when the request gave no end.
func (s *server) feedEnd(ctx context.Context, p *feedPage) error {
	if !p.endGiven {
		// Stop before the oldest write still in flight (younger than
		// CTMS_FEED_MAX_WRITE_WAIT): its rows carry its write time, which may be
		// earlier than rows already visible (sql/migrations/00007_write_time.sql).
		t, err := s.store.UpdatesEnd(ctx, p.end.t, s.cfg.FeedMaxWriteWait)
		if err != nil {
			return err
		}
		p.end.t = t
	}
	return nil
}

// next is the cursor and `next` URL of a full page whose last item is at last;
// the URL repeats the window and limit, so it can be followed verbatim.
func (p *feedPage) next(prefix, path string, last store.Cursor) (cursor, next string) {
	cursor = encodeCursor(last)
	next = prefix + path + "?start=" + url.QueryEscape(p.start.python()) +
		"&end=" + url.QueryEscape(p.end.python()) + "&limit=" + strconv.Itoa(p.limit) +
		"&after=" + url.QueryEscape(cursor)
	return cursor, next
}

// ReadCtmsInBulkByUpdatedDate is GET /updates.
func (s *server) ReadCtmsInBulkByUpdatedDate(ctx context.Context, req api.ReadCtmsInBulkByUpdatedDateRequestObject) (api.ReadCtmsInBulkByUpdatedDateResponseObject, error) {
	p := req.Params
	page, err := parseFeedPage(p.Start, p.End, p.Limit, p.After)
	if err != nil {
		return nil, err
	}
	if err := s.feedEnd(ctx, &page); err != nil {
		return nil, err
	}
	items, err := read(ctx, s, (*store.Store).Updates, store.UpdatesQuery{
		Start: page.start.t, End: page.end.t, After: page.after, MofoRelevant: p.MofoRelevant, Limit: page.limit,
	})
	if err != nil {
		return nil, err
	}
	resp := api.CTMSBulkResponse{
		Start: page.start.render(), End: page.end.render(), Limit: page.limit,
		Items: make([]api.CTMSResponse, len(items)),
	}
	for i := range items {
		resp.Items[i] = contactResponse(&items[i])
	}
	if len(items) == page.limit {
		last := items[len(items)-1].Email
		cursor, next := page.next(s.cfg.ServerPrefix, "/updates", store.Cursor{EmailID: last.EmailID, UpdateTimestamp: last.UpdateTimestamp})
		if p.MofoRelevant != nil {
			next += "&mofo_relevant=" + strconv.FormatBool(*p.MofoRelevant)
		}
		resp.After, resp.Next = &cursor, &next
	}
	return jsonResponse{status: http.StatusOK, body: appendBulk(make([]byte, 0, 256+1600*len(items)), &resp)}, nil
}

func timeProblem(param, input string) ValidationItem {
	return ValidationItem{Type: "datetime_from_date_parsing", Loc: []any{"query", param},
		Msg:   "Input should be a valid datetime or date, expected YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z or ±HH:MM] or Unix seconds",
		Input: input}
}
