package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// window is a time range no other test writes to: contacts are placed in it by
// setting update_timestamp directly.
func window() time.Time {
	base := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	return base.Add(time.Duration(rand.Int64N(int64(15*365*24*time.Hour))) / time.Second * time.Second)
}

func iso(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }

// updatesPage is a decoded /updates answer.
type updatesPage struct {
	raw   map[string]any
	ids   []string
	after any
	next  any
}

func (a *apiTest) updates(query string) updatesPage {
	a.t.Helper()
	r := a.do("GET", "/updates?"+query, nil)
	require.Equal(a.t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(a.t, []string{"start", "end", "limit", "after", "next", "items"}, keysOf(a.t, r.Body))
	p := updatesPage{raw: r.Object(a.t)}
	p.after, p.next = p.raw["after"], p.raw["next"]
	for i, it := range p.raw["items"].([]any) {
		requireContactShape(a.t, member(a.t, r.Body, "items", i), false)
		p.ids = append(p.ids, it.(map[string]any)["email"].(map[string]any)["email_id"].(string))
	}
	return p
}

// follow turns a `next` URL into a path on the test server, verbatim.
func follow(t *testing.T, next any) string {
	t.Helper()
	s, ok := next.(string)
	require.True(t, ok, "next is %v", next)
	require.True(t, strings.HasPrefix(s, "http://testserver/updates?"), s)
	return strings.TrimPrefix(s, "http://testserver")
}

func decodeCursor(t *testing.T, c any) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(c.(string))
	require.NoError(t, err)
	return string(raw)
}

func TestUpdatesPaginationWithSharedTimestamp(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	const n = 23
	ids := a.seed(n, ts)
	before := a.seed(2, ts.Add(-time.Microsecond)) // just outside the window
	later := a.seed(3, ts.Add(time.Millisecond+123*time.Microsecond))
	slices.Sort(ids)
	end := ts.Add(time.Second)

	var seen []string
	query := "start=" + iso(ts) + "&end=" + iso(end) + "&limit=5"
	pages := 0
	for {
		p := a.updates(query)
		pages++
		require.LessOrEqual(t, pages, 10, "pagination does not end")
		seen = append(seen, p.ids...)
		if len(p.ids) < 5 {
			require.Nil(t, p.after, "a page that is not full has no after")
			require.Nil(t, p.next)
			break
		}
		require.NotNil(t, p.after, "a full page has after")
		last := p.ids[len(p.ids)-1]
		lastTS := p.raw["items"].([]any)[4].(map[string]any)["email"].(map[string]any)["update_timestamp"].(string)
		require.Equal(t, last+","+strings.Replace(lastTS, "T", " ", 1), decodeCursor(t, p.after))
		next := follow(t, p.next)
		require.Contains(t, next, "&after="+url.QueryEscape(p.after.(string)))
		query = strings.TrimPrefix(next, "/updates?")
	}
	want := append(append([]string(nil), ids...), later...)
	slices.Sort(want[n:])
	require.Equal(t, want, seen, "every contact once, ordered by (update_timestamp, email_id)")
	for _, id := range before {
		require.NotContains(t, seen, id, "start is inclusive of exactly start")
	}
	require.Equal(t, 6, pages)
}

func TestUpdatesPageFullAtTheEnd(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	ids := a.seed(4, ts)
	slices.Sort(ids)
	p := a.updates("start=" + iso(ts) + "&end=" + iso(ts.Add(time.Second)) + "&limit=4")
	require.Equal(t, ids, p.ids)
	require.NotNil(t, p.after, "a full page has after even if nothing follows")
	p2 := a.updates(strings.TrimPrefix(follow(t, p.next), "/updates?"))
	require.Empty(t, p2.ids)
	require.Nil(t, p2.after)
	require.Nil(t, p2.next)
}

func TestUpdatesResponseFields(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	id := a.seed(1, ts)[0]
	tests := []struct {
		name, query, start, end string
	}{
		{"offsets", "start=" + url.QueryEscape(ts.Format("2006-01-02T15:04:05+00:00")) + "&end=" + url.QueryEscape(ts.Add(time.Second+511*time.Millisecond).Format("2006-01-02T15:04:05.000+00:00")),
			ts.Format("2006-01-02T15:04:05Z"), ts.Add(time.Second + 511*time.Millisecond).Format("2006-01-02T15:04:05.000000Z")},
		{"Z", "start=" + ts.Format("2006-01-02T15:04:05Z") + "&end=" + ts.Add(time.Hour).Format("2006-01-02T15:04:05Z"),
			ts.Format("2006-01-02T15:04:05Z"), ts.Add(time.Hour).Format("2006-01-02T15:04:05Z")},
		{"space separator", "start=" + url.QueryEscape(ts.Format("2006-01-02 15:04:05Z")) + "&end=" + ts.Add(time.Hour).Format("2006-01-02T15:04:05Z"),
			ts.Format("2006-01-02T15:04:05Z"), ts.Add(time.Hour).Format("2006-01-02T15:04:05Z")},
		{"unix seconds", fmt.Sprintf("start=%d&end=%d", ts.Unix(), ts.Unix()+1),
			ts.Format("2006-01-02T15:04:05Z"), ts.Add(time.Second).Format("2006-01-02T15:04:05Z")},
		{"naive", "start=" + ts.Format("2006-01-02T15:04:05") + "&end=" + ts.Add(time.Hour).Format("2006-01-02T15:04:05"),
			ts.Format("2006-01-02T15:04:05"), ts.Add(time.Hour).Format("2006-01-02T15:04:05")},
		{"empty optional parameters are absent", "start=" + iso(ts) + "&end=&limit=&after=&mofo_relevant=",
			ts.Format("2006-01-02T15:04:05Z"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			p := a.updates(tc.query)
			require.Equal(t, tc.start, p.raw["start"])
			require.Equal(t, float64(100), p.raw["limit"], "limit defaults to 100")
			if tc.end != "" {
				require.Equal(t, tc.end, p.raw["end"])
				require.Equal(t, []string{id}, p.ids)
				require.Nil(t, p.after)
				require.Nil(t, p.next)
				return
			}
			// Open up to now: other tests' contacts are in the range too.
			end, err := time.Parse(time.RFC3339Nano, p.raw["end"].(string))
			require.NoError(t, err, "end defaults to now")
			require.True(t, strings.HasSuffix(p.raw["end"].(string), "Z"))
			// now, or earlier: the guard may wait behind another test's write in
			// flight, for at most CTMS_FEED_MAX_WRITE_WAIT (sql/queries/platform.sql).
			require.False(t, end.After(time.Now()), "end is not in the future")
			require.WithinDuration(t, time.Now(), end, config.DefaultFeedMaxWriteWait+time.Minute)
			first, err := time.Parse(time.RFC3339Nano, at(t, p.raw, "items", 0, "email", "update_timestamp").(string))
			require.NoError(t, err)
			require.False(t, first.Before(ts), "an empty after is no cursor")
		})
	}
	p := a.updates("start=" + iso(ts) + "&end=" + iso(ts))
	require.Empty(t, p.ids, "end is exclusive")
	require.Equal(t, arr{}, p.raw["items"])
}

func TestUpdatesNextKeepsFiltersAndEncoding(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	relevant := make([]string, 3)
	for i := range relevant {
		id, body := newContact()
		body["mofo"] = obj{"mofo_relevant": true, "mofo_contact_id": "c"}
		a.create(body)
		relevant[i] = id
	}
	a.setUpdated(ts, relevant...)
	a.seed(3, ts) // no mofo row: not relevant
	slices.Sort(relevant)
	start := ts.Format("2006-01-02T15:04:05+00:00")
	p := a.updates("start=" + url.QueryEscape(start) + "&end=" + iso(ts.Add(time.Hour)) + "&limit=2&mofo_relevant=true")
	require.Equal(t, relevant[:2], p.ids)
	next := p.next.(string)
	require.Contains(t, next, "start="+url.QueryEscape(start), "next is percent-encoded (+ as %2B)")
	require.NotContains(t, strings.TrimPrefix(next, "http://testserver/updates?"), "+")
	require.Contains(t, next, "mofo_relevant=true", "next keeps mofo_relevant")
	require.Contains(t, next, "&limit=2")
	p2 := a.updates(strings.TrimPrefix(follow(t, next), "/updates?"))
	require.Equal(t, relevant[2:], p2.ids, "next is followable verbatim")
	require.Equal(t, ts.Format("2006-01-02T15:04:05Z"), p2.raw["start"], "the original start is echoed")
	require.Equal(t, p.raw["end"], p2.raw["end"], "the end of the first page is kept")
}

func TestUpdatesMofoRelevant(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	mk := func(mofo any) string {
		id, body := newContact()
		if mofo != nil {
			body["mofo"] = mofo
		}
		a.create(body)
		a.setUpdated(ts, id)
		return id
	}
	yes := mk(obj{"mofo_relevant": true})
	no := mk(obj{"mofo_relevant": false, "mofo_contact_id": "c"}) // a row with false
	none := mk(nil)
	nullID := mk(obj{"mofo_contact_id": "n"})
	a.exec(`UPDATE mofo SET mofo_relevant = NULL WHERE email_id = $1`, nullID)
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	base := "start=" + iso(ts) + "&end=" + iso(ts.Add(time.Second))
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", sorted(yes, no, none, nullID)},
		{"&mofo_relevant=", sorted(yes, no, none, nullID)},
		{"&mofo_relevant=true", sorted(yes)},
		{"&mofo_relevant=1", sorted(yes)},
		{"&mofo_relevant=false", sorted(no, none)},
		{"&mofo_relevant=0", sorted(no, none)},
	} {
		require.Equal(t, tc.want, a.updates(base+tc.query).ids, tc.query)
	}
	require.Equal(t, obj{"mofo_email_id": nil, "mofo_contact_id": "n", "mofo_relevant": false}, a.get(nullID)["mofo"],
		"a NULL boolean reads as its default")
}

func TestUpdatesCursorFormat(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window().Add(123456 * time.Microsecond)
	ids := a.seed(3, ts)
	slices.Sort(ids)
	p := a.updates("start=" + iso(ts) + "&end=" + iso(ts.Add(time.Second)) + "&limit=1")
	require.Equal(t, ids[:1], p.ids)
	require.Equal(t, ids[0]+","+ts.Format("2006-01-02 15:04:05.000000+00:00"), decodeCursor(t, p.after))

	// A cursor as the Python CTMS mints it (standard padding, space, +00:00) continues the keyset.
	cursor := base64.URLEncoding.EncodeToString([]byte(ids[0] + "," + ts.Format("2006-01-02 15:04:05.999999-07:00")))
	p = a.updates("start=" + iso(ts) + "&end=" + iso(ts.Add(time.Second)) + "&after=" + url.QueryEscape(cursor))
	require.Equal(t, ids[1:], p.ids)
	// The start parameter is ignored once a cursor is given.
	p = a.updates("start=" + iso(ts.Add(time.Hour)) + "&end=" + iso(ts.Add(time.Second)) + "&after=" + url.QueryEscape(cursor))
	require.Equal(t, ids[1:], p.ids)

	// The reference example decodes.
	const example = "OTNkYjgzZDQtNDExOS00ZTBjLWFmODctYTcxMzc4NmZhODFkLDIwMjAtMDEtMjIgMTU6MjQ6MDArMDA6MDA="
	require.Equal(t, "93db83d4-4119-4e0c-af87-a713786fa81d,2020-01-22 15:24:00+00:00", decodeCursor(t, example))
	p = a.updates("start=2020-01-01&end=2020-01-22T15:24:00Z&after=" + example)
	require.Empty(t, p.ids)
	require.Equal(t, "2020-01-01T00:00:00", p.raw["start"], "a naive start is echoed without offset")
}

// customErrors requires the /updates-specific 422 shape and returns its errors.
func customErrors(t *testing.T, r *response) []any {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	d, ok := r.Object(t)["detail"].(map[string]any)
	require.True(t, ok, "detail is not an object: %s", r.Body)
	require.Equal(t, []string{"errors"}, keysOf(t, member(t, r.Body, "detail")))
	return d["errors"].([]any)
}

func valueError(loc string, input any, message string) obj {
	return obj{"type": "value_error", "loc": arr{loc}, "msg": "Value error, " + message, "input": input,
		"ctx": obj{"error": message}, "url": "https://errors.pydantic.dev/2.11/v/value_error"}
}

func TestUpdatesParameterErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const start = "start=2020-01-01T00:00:00Z"
	const tooSmall = `"limit" should be greater than 0`
	const tooBig = `"limit" should be less than or equal to 1000`
	const badAfter = "'after' param validation error when decoding value."
	tests := []struct {
		name  string
		query string
		want  []any
	}{
		{"limit 0", "&limit=0", arr{valueError("limit", float64(0), tooSmall)}},
		{"negative limit", "&limit=-1", arr{valueError("limit", float64(-1), tooSmall)}},
		{"limit 1001", "&limit=1001", arr{valueError("limit", float64(1001), tooBig)}},
		{"after not base64", "&after=!!!", arr{valueError("after", "!!!", badAfter)}},
		{"after not UTF-8", "&after=" + base64.URLEncoding.EncodeToString([]byte{0xff, 0xfe}), arr{valueError("after", base64.URLEncoding.EncodeToString([]byte{0xff, 0xfe}), badAfter)}},
		{"limit and after", "&limit=5000&after=%25", arr{valueError("limit", float64(5000), tooBig), valueError("after", "%", badAfter)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			require.Equal(t, tc.want, customErrors(t, a.do("GET", "/updates?"+start+tc.query, nil)))
		})
	}
	for name, text := range map[string]string{
		"no comma":       "garbage",
		"bad uuid":       "not-a-uuid,2020-01-22 15:24:00+00:00",
		"bad timestamp":  uuid.NewString() + ",yesterday",
		"empty":          ",",
		"extra parts ok": "",
	} {
		if text == "" {
			continue
		}
		t.Run("malformed cursor/"+name, func(t *testing.T) {
			a := a.on(t)
			cursor := base64.URLEncoding.EncodeToString([]byte(text))
			errs := customErrors(t, a.do("GET", "/updates?"+start+"&after="+url.QueryEscape(cursor), nil))
			require.Len(t, errs, 1)
			e := errs[0].(map[string]any)
			require.Equal(t, "value_error", e["type"])
			require.Equal(t, arr{"after"}, e["loc"])
			require.Equal(t, cursor, e["input"])
			require.True(t, strings.HasPrefix(e["msg"].(string), "Value error, "), e["msg"])
		})
	}

	// FastAPI-style errors for missing or mistyped parameters.
	require.Equal(t, []map[string]any{{"type": "missing", "loc": arr{"query", "start"}, "msg": "Field required", "input": nil}},
		validationErrors(t, a.do("GET", "/updates", nil)))
	require.Equal(t, []map[string]any{{"type": "missing", "loc": arr{"query", "start"}, "msg": "Field required", "input": nil}},
		validationErrors(t, a.do("GET", "/updates?limit=10", nil)))
	for _, q := range []string{"start=yesterday", "start=", start + "&end=tomorrow", start + "&limit=ten", start + "&limit=1.5", start + "&mofo_relevant=maybe"} {
		errs := validationErrors(t, a.do("GET", "/updates?"+q, nil))
		require.Equal(t, "query", errs[0]["loc"].([]any)[0], q)
	}
	// Limits at the bounds are fine.
	for _, l := range []string{"1", "1000"} {
		require.Equal(t, http.StatusOK, a.do("GET", "/updates?start=2000-01-01&end=2000-01-02&limit="+l, nil).Status)
	}
}

// Starlette keeps the last of repeated values of a single-valued parameter, and
// pydantic reads lax booleans (yes/on/1, no/off/0): FastAPI's query reading.
func TestUpdatesQueryAsStarletteReadsIt(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ts := window()
	relevant := make([]string, 3)
	for i := range relevant {
		id, body := newContact()
		body["mofo"] = obj{"mofo_relevant": true, "mofo_contact_id": "c"}
		a.create(body)
		relevant[i] = id
	}
	a.setUpdated(ts, relevant...)
	a.seed(2, ts) // no mofo row: not relevant
	slices.Sort(relevant)
	window := "start=" + iso(ts) + "&end=" + iso(ts.Add(time.Hour))

	p := a.updates(window + "&limit=5&limit=2")
	require.Equal(t, float64(2), p.raw["limit"], "the last limit wins")
	require.Len(t, p.ids, 2)
	p = a.updates("start=2000-01-01&start=" + iso(ts) + "&end=" + iso(ts.Add(time.Hour)) + "&limit=100")
	require.Len(t, p.ids, 5, "the last start wins")

	for _, yes := range []string{"yes", "on", "1", "t", "Y", "True"} {
		p := a.updates(window + "&limit=2&mofo_relevant=" + yes)
		require.Equal(t, relevant[:2], p.ids, yes)
		require.Contains(t, p.next, "mofo_relevant=true", yes)
	}
	for _, no := range []string{"no", "off", "0", "f", "N", "FALSE"} {
		p := a.updates(window + "&mofo_relevant=" + no)
		require.Len(t, p.ids, 2, no)
	}
	p = a.updates(window + "&mofo_relevant=no&mofo_relevant=yes")
	require.Equal(t, relevant, p.ids, "the last mofo_relevant wins")
}
