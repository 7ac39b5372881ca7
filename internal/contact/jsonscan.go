package contact

// Reading JSON text without decoding it: the waitlist fields of every
// response and of every write are scanned for a few members, where decoding
// into a map would cost allocations for every member.

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
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
	i := skipSpace(obj, 0)
	if i == len(obj) || obj[i] != '{' {
		return false, true
	}
	if i = skipSpace(obj, i+1); i < len(obj) && obj[i] == '}' {
		return true, skipSpace(obj, i+1) == len(obj)
	}
	for i < len(obj) && obj[i] == '"' {
		end, escaped := stringEnd(obj, i)
		name := obj[i+1 : max(end-1, i+1)]
		if end < 0 || escaped || !utf8.Valid(name) { // decoding would rewrite the name
			return true, false
		}
		if i = skipSpace(obj, end); i == len(obj) || obj[i] != ':' {
			return true, false
		}
		i = skipSpace(obj, i+1)
		valueEnd := valueEnd(obj, i)
		if valueEnd < 0 {
			return true, false
		}
		each(name, obj[i:valueEnd])
		if i = skipSpace(obj, valueEnd); i == len(obj) {
			return true, false
		}
		switch obj[i] {
		case '}':
			return true, skipSpace(obj, i+1) == len(obj)
		case ',':
			i = skipSpace(obj, i+1)
		default:
			return true, false
		}
	}
	return true, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index just past the JSON string starting at b[i] ('"'), -1
// when it does not end; escaped tells whether it holds escapes.
func stringEnd(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// valueEnd is the index just past the JSON value starting at b[i], -1 when it does not end.
func valueEnd(b []byte, i int) int {
	if i == len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i // a number, true, false or null
	for j < len(b) && !strings.ContainsRune(" \t\r\n,}]", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
