package contact

// Reading JSON text without decoding it: the waitlist fields of every
// response and of every write are scanned for a few members, where decoding
// into a map would cost allocations for every member.

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/ctms-go/ctms/internal/jsontext"
)

// members calls each with the name and the value text of every member of the
// JSON object obj, in order. isObject is false when obj is no object (each is
// not called); ok is false when the scan cannot tell: obj is not well-formed
// JSON, or a member name has escapes or is not UTF-8 (the caller decodes such
// text instead).
func members(obj []byte, each func(name, value []byte)) (isObject, ok bool) {
	if !json.Valid(obj) {
		return false, false
	}
	i := jsontext.SkipSpace(obj, 0)
	if i == len(obj) || obj[i] != '{' {
		return false, true
	}
	if i = jsontext.SkipSpace(obj, i+1); i < len(obj) && obj[i] == '}' {
		return true, jsontext.SkipSpace(obj, i+1) == len(obj)
	}
	for i < len(obj) && obj[i] == '"' {
		end, escaped := jsontext.StringEnd(obj, i)
		name := obj[i+1 : max(end-1, i+1)]
		if end < 0 || escaped || !utf8.Valid(name) { // decoding would rewrite the name
			return true, false
		}
		if i = jsontext.SkipSpace(obj, end); i == len(obj) || obj[i] != ':' {
			return true, false
		}
		i = jsontext.SkipSpace(obj, i+1)
		valueEnd := jsontext.ValueEnd(obj, i)
		if valueEnd < 0 {
			return true, false
		}
		each(name, obj[i:valueEnd])
		if i = jsontext.SkipSpace(obj, valueEnd); i == len(obj) {
			return true, false
		}
		switch obj[i] {
		case '}':
			return true, jsontext.SkipSpace(obj, i+1) == len(obj)
		case ',':
			i = jsontext.SkipSpace(obj, i+1)
		default:
			return true, false
		}
	}
	return true, false
}
