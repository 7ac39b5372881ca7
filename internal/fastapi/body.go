package fastapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// errSyntax is any text that is not one JSON document.
var errSyntax = errors.New("not a JSON document")

// maxDepth is encoding/json's nesting limit, so that both refuse the same texts.
const maxDepth = 10000

// DecodeBody decodes data, which must be exactly one JSON document (as
// json.Valid accepts), into what a Model checks: map[string]any, []any,
// string, json.Number, bool and nil, as encoding/json decodes with UseNumber,
// except that each waitlist's "fields" object is its text as sent
// (json.RawMessage): it is stored verbatim, as the Python CTMS does. On
// failure, JSONInvalid(data) is the 422 item to answer.
func DecodeBody(data []byte) (any, error) {
	return decode(data, nil)
}

// Decode is DecodeBody for a body of the model: the member names it declares
// are read without allocating.
func (m *Model) Decode(data []byte) (any, error) {
	return decode(data, m.names)
}

func decode(data []byte, names map[string]string) (any, error) {
	p := &parser{data: data, names: names}
	p.space()
	v, err := p.value(atRoot)
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(data) {
		return nil, errSyntax
	}
	return v, nil
}

// where tells the parser where in the body a value is, to find waitlist fields.
type where int

const (
	elsewhere    where = iota
	atRoot             // the body itself
	inWaitlists        // body.waitlists
	atWaitlist         // body.waitlists[i]
	atFieldsOfWl       // body.waitlists[i].fields
)

type parser struct {
	data  []byte
	i     int
	depth int
	names map[string]string // member names to take as they are (Model.Decode)
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(at where) (any, error) {
	if p.i >= len(p.data) {
		return nil, errSyntax
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object(at)
	case c == '[':
		return p.array(at)
	case c == '"':
		s, err := p.str()
		return s, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, errSyntax
}

func (p *parser) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.i:], []byte(word)) {
		return errSyntax
	}
	p.i += len(word)
	return nil
}

func (p *parser) enter() error {
	if p.depth++; p.depth > maxDepth {
		return errSyntax
	}
	p.i++ // the opening bracket
	p.space()
	return nil
}

func (p *parser) object(at where) (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		p.depth--
		return m, nil
	}
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, errSyntax
		}
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if p.space(); p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, errSyntax
		}
		p.i++
		p.space()
		inner := elsewhere
		switch {
		case at == atRoot && key == "waitlists":
			inner = inWaitlists
		case at == atWaitlist && key == "fields":
			inner = atFieldsOfWl
		}
		start := p.i
		v, err := p.value(inner)
		if err != nil {
			return nil, err
		}
		if _, isObject := v.(map[string]any); isObject && inner == atFieldsOfWl {
			v = json.RawMessage(p.data[start:p.i])
		}
		m[key] = v // the last of repeated names wins, as in encoding/json
		p.space()
		if p.i >= len(p.data) {
			return nil, errSyntax
		}
		switch p.data[p.i] {
		case ',':
			p.i++
			p.space()
		case '}':
			p.i++
			p.depth--
			return m, nil
		default:
			return nil, errSyntax
		}
	}
}

func (p *parser) array(at where) (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	list := []any{}
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		p.depth--
		return list, nil
	}
	for {
		inner := elsewhere
		if at == inWaitlists {
			inner = atWaitlist
		}
		v, err := p.value(inner)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		p.space()
		if p.i >= len(p.data) {
			return nil, errSyntax
		}
		switch p.data[p.i] {
		case ',':
			p.i++
			p.space()
		case ']':
			p.i++
			p.depth--
			return list, nil
		default:
			return nil, errSyntax
		}
	}
}

// key reads a member name: one of names when it is, without allocating.
func (p *parser) key() (string, error) {
	if end := p.i + 1 + bytes.IndexByte(p.data[p.i+1:], '"'); end > p.i && p.names != nil {
		if name, ok := p.names[string(p.data[p.i+1:end])]; ok {
			p.i = end + 1
			return name, nil
		}
	}
	return p.str()
}

// str reads a string. Plain ASCII text without escapes (nearly every string of
// a body) is taken as is; anything else is decoded by encoding/json itself, so
// escapes and invalid UTF-8 read exactly as there.
func (p *parser) str() (string, error) {
	start := p.i
	plain := true
	for j := start + 1; j < len(p.data); j++ {
		switch c := p.data[j]; {
		case c == '"':
			p.i = j + 1
			if plain {
				return string(p.data[start+1 : j]), nil
			}
			var s string
			if json.Unmarshal(p.data[start:p.i], &s) != nil {
				return "", errSyntax
			}
			return s, nil
		case c == '\\':
			plain = false
			j++ // the escaped character (a \u's digits are checked by encoding/json)
		case c < 0x20:
			return "", errSyntax
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return "", errSyntax
}

// number reads a number as json.Number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() (any, error) {
	start, d := p.i, p.data
	if p.i < len(d) && d[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(d) && d[p.i] == '0':
		p.i++
	case p.i < len(d) && d[p.i] >= '1' && d[p.i] <= '9':
		p.digits()
	default:
		return nil, errSyntax
	}
	if p.i < len(d) && d[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, errSyntax
		}
	}
	if p.i < len(d) && (d[p.i] == 'e' || d[p.i] == 'E') {
		p.i++
		if p.i < len(d) && (d[p.i] == '+' || d[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, errSyntax
		}
	}
	return json.Number(d[start:p.i]), nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// JSONInvalid is FastAPI's 422 item for a body that is not JSON: loc ["body",
// position] and ctx.error as Python's json module reports them (pyJSONError).
// Text Python would take but CTMS-Go does not (NaN, nesting past maxDepth) is
// placed where encoding/json stops, as "Expecting value".
func JSONInvalid(data []byte) ValidationItem {
	if msg, pos, ok := pyJSONError(data); ok {
		return ValidationItem{Type: "json_invalid", Loc: []any{"body", int64(pos)},
			Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": msg}}
	}
	var v any
	off := int64(len(data))
	if se, ok := errors.AsType[*json.SyntaxError](json.Unmarshal(data, &v)); ok {
		off = se.Offset
		if off > 0 && off <= int64(len(data)) && !strings.HasPrefix(se.Error(), "unexpected end") {
			off-- // Go counts the offending byte as read
		}
	}
	return ValidationItem{Type: "json_invalid", Loc: []any{"body", int64(utf8.RuneCount(data[:off]))},
		Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": "Expecting value"}}
}

// LaxBool reads a boolean as pydantic does in lax mode; ok is false for
// anything else (laxBool says which error that is).
func LaxBool(v any) (b, ok bool) {
	b, problem := laxBool(v)
	return b, problem == ""
}

// laxBool is pydantic-core's validate_bool of what json.loads built: a bool;
// a string true/false, t/f, yes/no, y/n, on/off, 1/0 (any case); an int 0 or
// 1; a float that is an int of i64 (float_as_int), 0 or 1. Other strings,
// ints of i64 and such floats are "bool_parsing"; anything else (a float with
// a fraction or infinite, an int beyond i64) is "bool_type".
func laxBool(v any) (b bool, problem string) {
	switch x := v.(type) {
	case bool:
		return x, ""
	case string:
		switch strings.ToLower(x) {
		case "0", "f", "n", "no", "off", "false":
			return false, ""
		case "1", "t", "y", "yes", "on", "true":
			return true, ""
		}
		return false, "bool_parsing"
	case json.Number:
		return numberAsBool(string(x))
	}
	return false, "bool_type"
}

// numberAsBool reads a JSON number as json.loads does (an int unless it has
// a fraction or an exponent; then a float, rounded as float() rounds it).
func numberAsBool(text string) (b bool, problem string) {
	var n int64
	if !strings.ContainsAny(text, ".eE") {
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil { // beyond i64: a float beyond i64 too, not read as an int
			return false, "bool_type"
		}
		n = i
	} else {
		f, _ := strconv.ParseFloat(text, 64) // the syntax was checked: ±Inf when out of range
		// float_as_int: integral and strictly within i64's bounds (as floats).
		if math.IsInf(f, 0) || f != math.Trunc(f) || !(f > math.MinInt64 && f < math.MaxInt64) {
			return false, "bool_type"
		}
		n = int64(f)
	}
	switch n {
	case 0:
		return false, ""
	case 1:
		return true, ""
	}
	return false, "bool_parsing"
}
