package httpapi

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Input that is well-formed JSON or a well-formed URL but that PostgreSQL cannot
// store or compare is refused here, with a 4xx, instead of failing in the
// database with a 500 (found by the fuzz tests, fuzz_test.go). The Python CTMS
// answers 500 to most of these.

// Bounds of JSON bodies beyond what the syntax allows.
const (
	maxJSONDepth     = 100 // nested objects and arrays
	maxJSONNumberLen = 100 // characters of one number
	maxJSONExponent  = 400 // |exponent| of a number (PostgreSQL numeric overflows far beyond)
)

// checkStorableJSON refuses a syntactically valid JSON body (of valid UTF-8:
// readBody checks it first) that PostgreSQL could not take: a \u0000 escape,
// an unpaired UTF-16 surrogate escape, a number out of range or nesting deeper
// than maxJSONDepth (422 json_invalid at the character offset, as for a syntax
// error). Waitlist fields are stored as jsonb from the original text, so all
// of these matter.
func checkStorableJSON(data []byte) error {
	off, reason := unstorableJSON(data)
	if reason == "" {
		return nil
	}
	return invalid(ValidationItem{Type: "json_invalid", Loc: []any{"body", int64(utf8.RuneCount(data[:off]))},
		Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": reason}})
}

// unstorableJSON scans valid JSON; it returns the byte offset of the first
// unstorable value and why, or "" when there is none.
func unstorableJSON(data []byte) (int, string) {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '{' || c == '[':
			if depth++; depth > maxJSONDepth {
				return i, "Maximum nesting depth of " + strconv.Itoa(maxJSONDepth) + " exceeded"
			}
		case c == '}' || c == ']':
			depth--
		case c == '"':
			end, off, reason := scanString(data, i)
			if reason != "" {
				return off, reason
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end := i
			for end < len(data) && strings.IndexByte("+-.0123456789eE", data[end]) >= 0 {
				end++
			}
			if reason := numberProblem(string(data[i:end])); reason != "" {
				return i, reason
			}
			i = end - 1
		}
	}
	return 0, ""
}

// scanString reads the string starting at data[start] (a quote); it returns
// the index of the closing quote, or where and why the string is unstorable.
func scanString(data []byte, start int) (end, off int, reason string) {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '"':
			return i, 0, ""
		case '\\':
			if i+1 < len(data) && data[i+1] == 'u' && i+6 <= len(data) {
				r, _ := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
				switch {
				case r == 0:
					return 0, i, "NUL character (\\u0000) not allowed"
				case r >= 0xdc00 && r <= 0xdfff:
					return 0, i, "Unpaired surrogate in \\u escape"
				case r >= 0xd800 && r <= 0xdbff:
					if i+12 > len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
						return 0, i, "Unpaired surrogate in \\u escape"
					}
					lo, _ := strconv.ParseUint(string(data[i+8:i+12]), 16, 32)
					if lo < 0xdc00 || lo > 0xdfff {
						return 0, i, "Unpaired surrogate in \\u escape"
					}
					i += 6
				}
				i += 5
			} else {
				i++ // a one-character escape
			}
		}
	}
	return len(data), 0, ""
}

// numberProblem tells why a JSON number cannot be stored, or "".
func numberProblem(n string) string {
	if len(n) > maxJSONNumberLen {
		return "Number too long"
	}
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil || exp > maxJSONExponent || exp < -maxJSONExponent {
			return "Number out of range"
		}
	}
	if _, err := strconv.ParseFloat(n, 64); err != nil {
		return "Number out of range"
	}
	return ""
}

// validPathUTF8 is the path parameters with invalid UTF-8 replaced by U+FFFD,
// as Starlette decodes the path for the Python CTMS (the query:
// fastapi.NormaliseQuery); params itself when they are valid.
func validPathUTF8(params map[string]string) map[string]string {
	for _, v := range params {
		if !utf8.ValidString(v) {
			fixed := make(map[string]string, len(params))
			for n, v := range params {
				fixed[n] = strings.ToValidUTF8(v, "\uFFFD")
			}
			return fixed
		}
	}
	return params
}
