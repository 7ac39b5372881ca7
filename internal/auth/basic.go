package auth

import "strings"

// ParseBasic reads an Authorization header the way FastAPI's HTTPBasic does
// for POST /token. ok is false and malformed false when there is no header or
// its scheme (text before the first space, case-insensitive) is not "Basic".
// malformed is true when the scheme is Basic but the rest is not base64 (as
// Python's lenient b64decode reads it), not ASCII, or has no ":"; the caller
// answers 401 "Invalid authentication credentials" with WWW-Authenticate: Basic.
// Otherwise id is the text before the first ":" and secret the rest.
func ParseBasic(header string) (id, secret string, ok, malformed bool) {
	if header == "" {
		return "", "", false, false
	}
	scheme, param, _ := strings.Cut(header, " ")
	if asciiLower(scheme) != "basic" {
		return "", "", false, false
	}
	data, good := pyB64Decode(param)
	if !good {
		return "", "", false, true
	}
	for _, c := range data {
		if c >= 0x80 {
			return "", "", false, true
		}
	}
	id, secret, found := strings.Cut(string(data), ":")
	if !found {
		return "", "", false, true
	}
	return id, secret, true, false
}

// asciiLower lower-cases ASCII letters only; no other character lower-cases
// to an ASCII letter in Python's str.lower, so comparing with "basic" after
// this matches Python exactly.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// pyB64Decode mirrors CPython's binascii.a2b_base64 in its default
// (non-strict) mode, which base64.b64decode uses: characters outside the
// alphabet are skipped, decoding stops after a complete padding sequence, and
// leftover data characters without padding are an error.
func pyB64Decode(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s)*3/4)
	var quadPos, pads int
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quadPos >= 2 {
				pads++
				if quadPos+pads >= 4 {
					return out, true
				}
			}
			continue
		}
		v, ok := b64Value(c)
		if !ok {
			continue
		}
		pads = 0
		switch quadPos {
		case 0:
			left = v
			quadPos = 1
		case 1:
			out = append(out, left<<2|v>>4)
			left = v & 0x0f
			quadPos = 2
		case 2:
			out = append(out, left<<4|v>>2)
			left = v & 0x03
			quadPos = 3
		case 3:
			out = append(out, left<<6|v)
			left = 0
			quadPos = 0
		}
	}
	return out, quadPos == 0
}

func b64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}
