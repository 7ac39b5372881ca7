package contact

import (
	"strings"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// ProblemKind says which rule an input breaks.
type ProblemKind int

const (
	// DuplicateName: two items of one list have the same name. Msg is
	// "duplicate newsletter name" (or waitlist).
	DuplicateName ProblemKind = iota + 1
	// InvalidSource: an item's source is not an absolute URL. Msg says why.
	InvalidSource
	// BrokenFieldRule: a waitlist's fields break a waitlist field rule. Rule
	// holds the details; Field is the member of fields ("" when fields itself is wrong).
	BrokenFieldRule
)

// Problem is one thing the contact rules refuse in a request, located by the
// list ("newsletters" or "waitlists"), the item's index and its field.
type Problem struct {
	Kind  ProblemKind
	List  string
	Index int
	Field string
	Msg   string
	Input any
	Rule  *FieldProblem // BrokenFieldRule only
}

// Validate checks what the API schema cannot: names unique within each list,
// item sources absolute URLs, waitlist fields following the rules. It also
// writes each source in its normalised form, the one stored. The problems come
// in the order of the items, each item's as: name, source, fields.
func (p *Patch) Validate(rules FieldRules) []Problem {
	var problems []Problem
	names := make(map[string]bool, max(len(p.Newsletters), len(p.Waitlists)))
	for i := range p.Newsletters {
		n := &p.Newsletters[i]
		problems = checkName(problems, names, "newsletters", "newsletter", i, n.Name)
		problems = normaliseSource(problems, &n.Source, "newsletters", i)
	}
	clear(names)
	for i := range p.Waitlists {
		w := &p.Waitlists[i]
		problems = checkName(problems, names, "waitlists", "waitlist", i, w.Name)
		problems = normaliseSource(problems, &w.Source, "waitlists", i)
		if w.Fields != nil {
			for _, fp := range rules.Check(w.Name, w.Fields) {
				problems = append(problems, Problem{Kind: BrokenFieldRule, List: "waitlists", Index: i,
					Field: fp.Field, Msg: fp.Msg, Input: fp.Input, Rule: &fp})
			}
		}
	}
	return problems
}

func checkName(problems []Problem, seen map[string]bool, list, kind string, i int, name string) []Problem {
	if seen[name] {
		problems = append(problems, Problem{Kind: DuplicateName, List: list, Index: i, Field: "name",
			Msg: "duplicate " + kind + " name", Input: name})
	}
	seen[name] = true
	return problems
}

func normaliseSource(problems []Problem, src *Change[string], list string, i int) []Problem {
	if src.To == nil {
		return problems
	}
	norm, why := NormaliseSource(*src.To)
	if why != "" {
		return append(problems, Problem{Kind: InvalidSource, List: list, Index: i, Field: "source", Msg: why, Input: *src.To})
	}
	src.To = &norm
	return problems
}

// urlParser follows the WHATWG URL standard, as pydantic's URL type (Rust url crate) does.
var urlParser = whatwg.NewParser()

// NormaliseSource returns the form in which an item's source URL is stored
// (lower-case scheme and host, "/" path, ...), as the Python CTMS stores it; or,
// when s is not an absolute URL, why, in the words of the Rust url crate that
// pydantic uses ("relative URL without a base", "empty host", "invalid URL").
func NormaliseSource(s string) (normalised, why string) {
	if isNormalURL(s) {
		return s, ""
	}
	u, err := urlParser.Parse(s)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "missing a scheme"):
			return "", "relative URL without a base"
		case strings.Contains(msg, "does not contain a host"), strings.Contains(msg, "empty host"):
			return "", "empty host"
		}
		return "", "invalid URL"
	}
	return u.Href(false), ""
}

// isNormalURL reports whether s is an http(s) URL that the WHATWG parser
// writes back unchanged: a lower-case host name (no port, no user, no IP
// address, no punycode), a path without dot segments and a query, made of
// characters that are never escaped and no "%". Most sources are such URLs;
// they skip the parser (the equivalence is fuzzed in check_test.go).
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
