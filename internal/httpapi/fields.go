package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	whatwg "github.com/nlnwa/whatwg-url/url"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/contact"
)

// urlParser follows the WHATWG URL standard, as pydantic's URL type (Rust url crate) does.
var urlParser = whatwg.NewParser()

// parsedURL is what parsing a source URL gave: its normalised form, or why it is
// not an absolute URL (in pydantic's words).
type parsedURL struct {
	href, problem string
}

// sourceURLs remembers parsed source URLs: a body's sources are parsed by the
// schema's format check (server.go) and again to normalise them, and clients send
// the same few sources (their sign-up pages) over and over.
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

// urlProblem explains why s is not an absolute URL, in pydantic's words ("" if it is one).
func urlProblem(s string) string { return parseURL(s).problem }

// normaliseSource returns the normalised form of an item's source URL (stored
// normalised, like the Python CTMS: lower-case scheme and host, "/" path, ...).
func normaliseSource(src *string, loc []any) (*string, []ValidationItem) {
	if src == nil {
		return nil, nil
	}
	p := parseURL(*src)
	if p.problem != "" {
		return nil, []ValidationItem{{Type: "url_parsing", Loc: append(append([]any(nil), loc...), "source"),
			Msg: "Input should be a valid URL, " + p.problem, Input: *src, Ctx: map[string]any{"error": p.problem}}}
	}
	return new(p.href), nil
}

// fieldRules caches the waitlist field rules (waitlist_field_rules) as
// clientCache caches clients: while the access feed is live and at the version
// they were read under; otherwise they are read for each request that needs them.
type fieldRules struct {
	mu      sync.Mutex
	rules   contact.FieldRules
	version accessfeed.Version
}

// waitlistRules returns the current rules.
func (s *server) waitlistRules(ctx context.Context) (contact.FieldRules, error) {
	c := &s.rules
	v := s.feed.Version() // taken before the read, as in apiClient
	c.mu.Lock()
	cached, version := c.rules, c.version
	c.mu.Unlock()
	if cached != nil && v.Live() && version == v {
		return cached, nil
	}
	rules, err := s.store.WaitlistFieldRules(ctx)
	if err != nil {
		if cached != nil {
			return cached, nil // keep serving with the last rules read
		}
		return nil, err
	}
	c.mu.Lock()
	c.rules, c.version = rules, v
	c.mu.Unlock()
	return rules, nil
}

// waitlistFieldProblems checks a waitlist's fields against the rules for its
// name. As in pydantic, the error location omits "fields".
func waitlistFieldProblems(loc []any, name string, fields json.RawMessage, rules contact.FieldRules) []ValidationItem {
	var out []ValidationItem
	for _, p := range rules.Check(name, fields) {
		at := append([]any(nil), loc...)
		if p.Field != "" {
			at = append(at, p.Field)
		} else {
			at = append(at, "fields")
		}
		out = append(out, ValidationItem{Type: p.Type, Loc: at, Msg: p.Msg, Input: p.Input, Ctx: p.Ctx})
	}
	return out
}
