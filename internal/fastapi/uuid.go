package fastapi

import (
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ParseUUID reads s as pydantic-core reads a string given for a UUID: with the
// Rust uuid crate's Uuid::parse_str, which takes exactly four spellings (32 hex
// digits; 8-4-4-4-12 hex digits with hyphens; that in braces; that after a
// lower-case "urn:uuid:"), hex digits in either case, nothing around them (so
// not " <uuid> ", which google/uuid.Parse takes). On failure, why is the crate's
// own account, which pydantic puts in uuid_parsing's msg and ctx.error.
func ParseUUID(s string) (id uuid.UUID, why string) {
	inner := ""
	switch {
	case len(s) == 32:
		if id, ok := hexRun(s); ok {
			return id, ""
		}
	case len(s) == 36:
		inner = s
	case len(s) == 38 && s[0] == '{' && s[37] == '}':
		inner = s[1:37]
	case len(s) == 45 && s[:9] == "urn:uuid:":
		inner = s[9:]
	}
	if inner != "" && inner[8] == '-' && inner[13] == '-' && inner[18] == '-' && inner[23] == '-' {
		if id, ok := hexRun(inner, 8, 13, 18, 23); ok {
			return id, ""
		}
	}
	return uuid.UUID{}, uuidFailure(s)
}

// hexRun reads 32 hex digits from s, skipping the given byte positions (the
// hyphens), without allocating.
func hexRun(s string, skip ...int) (id uuid.UUID, ok bool) {
	j := 0
	next := func() (byte, bool) {
		for len(skip) > 0 && j == skip[0] {
			j++
			skip = skip[1:]
		}
		c := s[j]
		j++
		return hexDigit(rune(c))
	}
	for i := range id {
		hi, ok1 := next()
		lo, ok2 := next()
		if !ok1 || !ok2 {
			return uuid.UUID{}, false
		}
		id[i] = hi<<4 | lo
	}
	return id, true
}

func hexDigit(c rune) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return byte(c - '0'), true
	case c >= 'a' && c <= 'f':
		return byte(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return byte(c-'A') + 10, true
	}
	return 0, false
}

// uuidFailure is the crate's InvalidUuid::into_err and its Display (the
// version pydantic-core 2.31 builds with): the first character that is neither
// a hex digit nor a hyphen (its 1-based byte position, counting a stripped
// brace or urn prefix); else, for input without hyphens nor prefix, the length;
// else the number of hyphen-separated groups; else the first group of the
// wrong length.
func uuidFailure(s string) string {
	body, offset, simple := s, 0, true
	switch {
	case len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}':
		body, offset, simple = s[1:len(s)-1], 1, false
	case len(s) >= 9 && s[:9] == "urn:uuid:":
		body, offset, simple = s[9:], 9, false
	}
	if !utf8.ValidString(s) {
		return "non-UTF8 input"
	}
	hyphens := 0
	var bounds [4]int
	for i, r := range body {
		switch {
		case r == '-':
			if hyphens < 4 {
				bounds[hyphens] = i
			}
			hyphens++
		case !isHex(r):
			return "invalid character: found `" + string(r) + "` at " + strconv.Itoa(i+offset+1)
		}
	}
	if hyphens == 0 && simple {
		return "invalid length: expected length 32 for simple format, found " + strconv.Itoa(len(s))
	}
	if hyphens != 4 {
		return "invalid group count: expected 5, found " + strconv.Itoa(hyphens+1)
	}
	starts := [5]int{0, 9, 14, 19, 24}
	expected := [5]int{8, 4, 4, 4, 12}
	for g := range 4 {
		if bounds[g] != starts[g+1]-1 {
			return groupLength(g, expected[g], bounds[g]-starts[g])
		}
	}
	// The crate measures the last group on the whole input, prefix included.
	return groupLength(4, expected[4], len(s)-starts[4])
}

func groupLength(group, expected, found int) string {
	return "invalid group length in group " + strconv.Itoa(group) + ": expected " + strconv.Itoa(expected) + ", found " + strconv.Itoa(found)
}

func isHex(r rune) bool {
	_, ok := hexDigit(r)
	return ok
}
