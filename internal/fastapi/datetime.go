package fastapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Dates and date-times as pydantic reads them (its parser, speedate, with
// pydantic's lax rules): the value, or the reason speedate gives, which
// pydantic puts in msg and ctx.error.

// speedate's reasons (ParseError's documentation).
const (
	whyTooShort     = "input is too short"
	whyYear         = "invalid character in year"
	whyDateSep      = "invalid date separator, expected `-`"
	whyMonth        = "invalid character in month"
	whyDay          = "invalid character in day"
	whyDateTimeSep  = "invalid datetime separator, expected `T`, `t`, `_` or space"
	whyHour         = "invalid character in hour"
	whyTimeSep      = "invalid time separator, expected `:`"
	whyMinute       = "invalid character in minute"
	whySecond       = "invalid character in second"
	whyFraction     = "second fraction digits missing after `.`"
	whyTzSign       = "invalid timezone sign"
	whyTzHour       = "invalid timezone hour"
	whyTzMinute     = "invalid timezone minute"
	whyRangeMonth   = "month value is outside expected range of 1-12"
	whyRangeDay     = "day value is outside expected range"
	whyRangeHour    = "hour value is outside expected range of 0-23"
	whyRangeMinute  = "minute value is outside expected range of 0-59"
	whyRangeSecond  = "second value is outside expected range of 0-59"
	whyRangeTz      = "timezone offset must be less than 24 hours"
	whyRangeTzMin   = "timezone minute value is outside expected range of 0-59"
	whyExtra        = "unexpected extra characters at the end of the input"
	whyDateTooSmall = "dates before 0000 are not supported as unix timestamps"
	whyDateTooLarge = "dates after 9999 are not supported as unix timestamps"
)

// DateTime is a parsed date-time; Offset is nil for a naive one.
type DateTime struct {
	Year, Month, Day             int
	Hour, Minute, Second, Micros int
	Offset                       *int // seconds east of UTC
}

// Time is d as a time.Time (UTC when naive).
func (d DateTime) Time() time.Time {
	loc := time.UTC
	if d.Offset != nil && *d.Offset != 0 {
		loc = time.FixedZone("", *d.Offset)
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, d.Hour, d.Minute, d.Second, d.Micros*1000, loc)
}

func (d DateTime) midnight() bool {
	return d.Hour == 0 && d.Minute == 0 && d.Second == 0 && d.Micros == 0
}

func (d DateTime) date() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

func digits2(s string, i int) (int, bool) {
	if i+1 >= len(s) || s[i] < '0' || s[i] > '9' || s[i+1] < '0' || s[i+1] > '9' {
		return 0, false
	}
	return int(s[i]-'0')*10 + int(s[i+1]-'0'), true
}

// datePartial is Date::parse_bytes_partial: YYYY-MM-DD at the start of s.
func datePartial(s string) (d DateTime, why string) {
	if len(s) < 10 {
		return d, whyTooShort
	}
	y1, ok1 := digits2(s, 0)
	y2, ok2 := digits2(s, 2)
	if !ok1 || !ok2 {
		return d, whyYear
	}
	if s[4] != '-' {
		return d, whyDateSep
	}
	m, ok := digits2(s, 5)
	if !ok {
		return d, whyMonth
	}
	if s[7] != '-' {
		return d, whyDateSep
	}
	day, ok := digits2(s, 8)
	if !ok {
		return d, whyDay
	}
	year := y1*100 + y2
	var max int
	switch m {
	case 1, 3, 5, 7, 8, 10, 12:
		max = 31
	case 4, 6, 9, 11:
		max = 30
	case 2:
		max = 28
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			max = 29
		}
	default:
		return d, whyRangeMonth
	}
	if day < 1 || day > max {
		return d, whyRangeDay
	}
	return DateTime{Year: year, Month: m, Day: day}, ""
}

// parseDate is Date::parse_bytes: exactly YYYY-MM-DD, else a Unix time that is
// a whole day.
func parseDate(s string) (DateTime, string) {
	d, why := datePartial(s)
	if why == "" && len(s) > 10 {
		why = whyExtra
	}
	if why != "" {
		switch dt, ok, numWhy := numericTime(s); {
		case ok && dt.midnight():
			return dt, ""
		case ok:
			return dt, "timestamp must be a date"
		case numWhy != "":
			return dt, numWhy
		}
	}
	return d, why
}

// ParseDateTime is DateTime::parse_bytes: YYYY-MM-DD, a separator (T, t, _ or
// space), HH:MM[:SS[.ffffff]] and an optional Z/z or ±HH[:]MM; else a Unix
// time (seconds, or milliseconds beyond 2·10¹⁰).
func ParseDateTime(s string) (DateTime, string) {
	d, why := dateTimeText(s)
	if why != "" {
		if dt, ok, numWhy := numericTime(s); ok || numWhy != "" {
			return dt, numWhy
		}
	}
	return d, why
}

func dateTimeText(s string) (DateTime, string) {
	d, why := datePartial(s)
	if why != "" {
		return d, why
	}
	if len(s) < 11 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ' && s[10] != '_') {
		return d, whyDateTimeSep
	}
	t := s[11:]
	if len(t) < 5 {
		return d, whyTooShort
	}
	var ok bool
	if d.Hour, ok = digits2(t, 0); !ok {
		return d, whyHour
	}
	if d.Hour > 23 {
		return d, whyRangeHour
	}
	if t[2] != ':' {
		return d, whyTimeSep
	}
	if d.Minute, ok = digits2(t, 3); !ok {
		return d, whyMinute
	}
	if d.Minute > 59 {
		return d, whyRangeMinute
	}
	i := 5
	if i < len(t) && t[i] == ':' {
		if d.Second, ok = digits2(t, i+1); !ok {
			return d, whySecond
		}
		if d.Second > 59 {
			return d, whyRangeSecond
		}
		i += 3
		if i < len(t) && (t[i] == '.' || t[i] == ',') {
			i++
			n := 0
			for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
				if n < 6 { // pydantic truncates beyond microseconds
					d.Micros = d.Micros*10 + int(t[i]-'0')
				}
				n++
			}
			if n == 0 {
				return d, whyFraction
			}
			for ; n < 6; n++ {
				d.Micros *= 10
			}
		}
	}
	if i == len(t) {
		return d, ""
	}
	off := 0
	switch t[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		sign := 1
		if t[i] == '-' {
			sign = -1
		}
		h, ok := digits2(t, i+1)
		if !ok {
			return d, whyTzHour
		}
		i += 3
		m := 0
		if i < len(t) && t[i] == ':' {
			if m, ok = digits2(t, i+1); !ok {
				return d, whyTzMinute
			}
			i += 3
		} else if i < len(t) && t[i] >= '0' && t[i] <= '9' {
			if m, ok = digits2(t, i); !ok {
				return d, whyTzMinute
			}
			i += 2
		}
		if m > 59 {
			return d, whyRangeTzMin
		}
		if h*3600+m*60 >= 24*3600 {
			return d, whyRangeTz
		}
		off = sign * (h*3600 + m*60)
	default:
		return d, whyTzSign
	}
	if i != len(t) {
		return d, whyExtra
	}
	d.Offset = &off
	return d, ""
}

// numericTime reads s as speedate reads a number for a date-time: ok false and
// no reason when s is no number.
func numericTime(s string) (DateTime, bool, string) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || len(s) == 0 || !isPlainNumber(s) {
		return DateTime{}, false, ""
	}
	return timestampTime(f)
}

// isPlainNumber: digits with an optional sign and fraction (no exponent, no
// NaN or Inf, which ParseFloat would take).
func isPlainNumber(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case (c == '-' || c == '+') && i == 0:
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// Unix times of 0000-01-01 and 9999-12-31T23:59:59 (speedate's bounds).
const (
	minUnix = -62_167_219_200
	maxUnix = 253_402_300_799
)

func timestampTime(f float64) (DateTime, bool, string) {
	if math.Abs(f) > 2e10 { // milliseconds
		f /= 1000
	}
	if f < minUnix {
		return DateTime{}, false, whyDateTooSmall
	}
	if f > maxUnix {
		return DateTime{}, false, whyDateTooLarge
	}
	sec := math.Floor(f)
	t := time.Unix(int64(sec), int64(math.Round((f-sec)*1e6))*1000).UTC()
	zero := 0
	return DateTime{Year: t.Year(), Month: int(t.Month()), Day: t.Day(), Hour: t.Hour(), Minute: t.Minute(),
		Second: t.Second(), Micros: t.Nanosecond() / 1000, Offset: &zero}, true, ""
}

// Problem is a pydantic error without its location: type, msg and ctx.
type Problem struct {
	Type, Msg string
	Ctx       map[string]any
}

// LaxDate reads v as pydantic reads a `date` in lax mode: "YYYY-MM-DD"; else
// a date-time or Unix time at midnight (UTC), which is that day; a date-time
// with a time is date_from_datetime_inexact; text that is neither
// date_from_datetime_parsing with speedate's date-time reason; anything else
// (true, a list, ...) date_type. date is the day as YYYY-MM-DD.
func LaxDate(v any) (date string, p *Problem) {
	var dt DateTime
	switch x := v.(type) {
	case string:
		d, why := parseDate(x)
		if why == "" {
			return d.date(), nil
		}
		if dt, why = ParseDateTime(x); why != "" {
			return "", &Problem{Type: "date_from_datetime_parsing", Msg: "Input should be a valid date or datetime, " + why,
				Ctx: map[string]any{"error": why}}
		}
	case json.Number, float64:
		f, err := strconv.ParseFloat(fmt.Sprint(x), 64)
		if err != nil {
			return "", &Problem{Type: "date_type", Msg: "Input should be a valid date"}
		}
		var ok bool
		var why string
		if dt, ok, why = timestampTime(f); !ok {
			return "", &Problem{Type: "date_from_datetime_parsing", Msg: "Input should be a valid date or datetime, " + why,
				Ctx: map[string]any{"error": why}}
		}
	default:
		return "", &Problem{Type: "date_type", Msg: "Input should be a valid date"}
	}
	if !dt.midnight() {
		return "", &Problem{Type: "date_from_datetime_inexact",
			Msg: "Datetimes provided to dates should have zero time - e.g. be exact dates"}
	}
	return dt.date(), nil
}

// LaxDateTime reads s as pydantic reads a `datetime` in lax mode: a date-time
// or Unix time; else a date alone (at midnight, naive); else
// datetime_from_date_parsing with the reason the date parser gives.
func LaxDateTime(s string) (DateTime, *Problem) {
	if dt, why := ParseDateTime(s); why == "" {
		return dt, nil
	}
	d, why := parseDate(s)
	if why != "" {
		return d, &Problem{Type: "datetime_from_date_parsing", Msg: "Input should be a valid datetime or date, " + why,
			Ctx: map[string]any{"error": why}}
	}
	return d, nil
}

// IsDate tells whether s is a real day written YYYY-MM-DD (what LaxDate makes
// of the dates it accepts), without allocating.
func IsDate(s string) bool {
	_, why := datePartial(s)
	return why == "" && len(s) == 10
}
