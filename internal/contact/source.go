package contact

import (
	"strings"
	"sync"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// urlParser follows the WHATWG URL standard, as pydantic's URL type (Rust url crate) does.
var urlParser = whatwg.NewParser()

// NormaliseSource returns the form in which an item's source URL is stored
// (lower-case scheme and host, "/" path, ...), as the Python CTMS stores it; or,
// when s is not an absolute URL, why, in the words of the Rust url crate that
// pydantic uses ("relative URL without a base", "empty host", "invalid URL").
//
// Each source of a body comes here twice, for the schema's format check
// (internal/httpapi/server.go) and to be normalised: most are in normal form
// already and skip the parser; the others are parsed once and remembered.
func NormaliseSource(s string) (normalised, why string) {
	if isNormalURL(s) {
		return s, ""
	}
	p := parseURL(s)
	return p.href, p.problem
}

// parsedURL is what parsing a source URL gave: its normalised form, or why it is
// not an absolute URL (in pydantic's words).
type parsedURL struct {
	href, problem string
}

// sourceURLs remembers parsed source URLs: clients send the same few sources
// (their sign-up pages) over and over.
var sourceURLs = struct {
	sync.Mutex
	seen map[string]parsedURL
}{seen: map[string]parsedURL{}}

// Bounds of sourceURLs: entries, and length of a URL worth remembering.
const (
	maxRememberedURLs   = 4096
	maxRememberedURLLen = 1024
)

func parseURL(s string) parsedURL {
	sourceURLs.Lock()
	p, ok := sourceURLs.seen[s]
	sourceURLs.Unlock()
	if ok {
		return p
	}
	if u, err := urlParser.Parse(s); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "missing a scheme"):
			p.problem = "relative URL without a base"
		case strings.Contains(msg, "does not contain a host"), strings.Contains(msg, "empty host"):
			p.problem = "empty host"
		default:
			p.problem = "invalid URL"
		}
	} else {
		p.href = u.Href(false)
	}
	if len(s) <= maxRememberedURLLen {
		sourceURLs.Lock()
		if len(sourceURLs.seen) >= maxRememberedURLs {
			clear(sourceURLs.seen)
		}
		sourceURLs.seen[s] = p
		sourceURLs.Unlock()
	}
	return p
}

// isNormalURL reports whether s is an http(s) URL that the WHATWG parser
// writes back unchanged: a lower-case host name (no port, no user, no IP
// address, no punycode), a path without dot segments and a query, made of
// characters that are never escaped and no "%". Most sources are such URLs;
// they skip the parser (the equivalence is fuzzed in source_internal_test.go).
func isNormalURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || !isNormalHost(host) {
		return false
	}
	path, query, _ := strings.Cut(path, "?")
	for segment := range strings.SplitSeq(path, "/") {
		if segment == "." || segment == ".." {
			return false
		}
		for i := range len(segment) {
			if !urlByte(segment[i]) {
				return false
			}
		}
	}
	for i := range len(query) {
		if c := query[i]; !urlByte(c) && c != '/' && c != '?' {
			return false
		}
	}
	return true
}

// isNormalHost: dot-separated labels of lower-case letters, digits and inner
// hyphens, the last one letters only (a host ending in a number is an IPv4 address).
func isNormalHost(host string) bool {
	var label string
	for label = range strings.SplitSeq(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' || (len(label) >= 4 && label[2:4] == "--") {
			return false
		}
		for i := range len(label) {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	for i := range len(label) {
		if c := label[i]; !('a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// urlByte: the characters of a path segment or query that the parser keeps as they are.
func urlByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~!$&()*+,;=:@", c) >= 0
}
