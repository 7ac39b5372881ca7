// Package jsontext finds the ends of JSON values in text without decoding it:
// the few hot paths that read JSON of a known shape (a contact's lists from the
// database, internal/store/lists.go; waitlist fields, internal/contact/jsonscan.go)
// scan it with these and leave anything unexpected to encoding/json.
package jsontext

// SkipSpace is the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// StringEnd is the index just past the JSON string starting at b[i], -1 when
// b[i] starts no string, or it does not end, or it holds a control character
// (which JSON requires escaped); escaped tells whether it holds escapes.
func StringEnd(b []byte, i int) (end int, escaped bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	for j := i + 1; j < len(b); j++ {
		switch {
		case b[j] == '\\':
			escaped = true
			j++
		case b[j] == '"':
			return j + 1, escaped
		case b[j] < 0x20:
			return -1, escaped
		}
	}
	return -1, escaped
}

// ValueEnd is the index just past the JSON value starting at b[i], -1 when it
// does not end there. Only strings are checked: an object or array is matched
// bracket for bracket, a number or literal taken up to the next delimiter, so a
// caller that keeps such a value's text checks it (json.Valid) itself.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := StringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := StringEnd(b, j)
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
	for j < len(b) && !isDelimiter(b[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '}', ']':
		return true
	}
	return false
}
