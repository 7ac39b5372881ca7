package httpapi

import (
	"context"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/fastapi"
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

// parseQueryTime reads a start or end value as pydantic reads a datetime
// (fastapi.LaxDateTime): ISO-8601 with "T", "t", "_" or a space, optional
// seconds, fraction and offset, a date alone, or Unix seconds. Python has no
// year 0, and PostgreSQL no year past 9999.
func parseQueryTime(s string) (queryTime, *fastapi.Problem) {
	dt, p := fastapi.LaxDateTime(s)
	if p != nil {
		return queryTime{}, p
	}
	t := dt.Time()
	if u := t.Unix(); u < minUnixSeconds || u >= maxUnixSeconds {
		return queryTime{}, &fastapi.Problem{Type: "datetime_from_date_parsing",
			Msg: "Input should be a valid datetime or date, year 0 is out of range", Ctx: map[string]any{"error": "year 0 is out of range"}}
	}
	return queryTime{t: t, naive: dt.Offset == nil}, nil
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
	ts, problem := parseQueryTime(tsText)
	if problem != nil {
		return store.Cursor{}, "'after' cursor has an invalid timestamp"
	}
	return store.Cursor{EmailID: id, UpdateTimestamp: ts.t}, ""
}

// updatesError is the /updates-specific 422 shape: {"detail": {"errors": [...]}}.
func updatesError(param string, input any, message string) ValidationItem {
	return ValidationItem{Type: "value_error", Loc: []any{param}, Msg: "Value error, " + message, Input: input,
		Ctx: map[string]any{"error": message}, URL: "https://errors.pydantic.dev/2.11/v/value_error"}
}

// feedParams are the query parameters of both feeds as the validate stage binds
// them (call.page); /deletions has those of /updates but mofo_relevant.
type feedParams = api.ReadCtmsInBulkByUpdatedDateParams

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
	start, problem := parseQueryTime(startParam)
	if problem != nil {
		problems = append(problems, timeProblem("start", startParam, problem, false)...)
	}
	end := queryTime{t: time.Now().UTC()}
	if endParam != nil {
		if end, problem = parseQueryTime(*endParam); problem != nil {
			problems = append(problems, timeProblem("end", *endParam, problem, true)...)
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

// readUpdates is GET /updates.
func (s *server) readUpdates(ctx context.Context, p *feedParams) (*bulkOK, error) {
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
	resp := &bulkOK{
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
	return resp, nil
}

// timeProblem is pydantic's item for a start or end it cannot read. end is,
// in the Python CTMS, Union[datetime, Literal[”]]: its item is tagged
// "datetime" and followed by the literal's.
func timeProblem(param, input string, p *fastapi.Problem, union bool) []ValidationItem {
	item := ValidationItem{Type: p.Type, Loc: []any{"query", param}, Msg: p.Msg, Input: input, Ctx: p.Ctx}
	if !union {
		return []ValidationItem{item}
	}
	return fastapi.UnionItems([]any{"datetime", "literal['']"}, item) // api/openapi.yaml: end's x-union-tags
}
