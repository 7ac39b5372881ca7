package httpapi

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// urlParser follows the WHATWG URL standard, as pydantic's URL type (Rust url crate) does.
var urlParser = whatwg.NewParser()

// urlProblem explains why s is not an absolute URL, in pydantic's words ("" if it is one).
func urlProblem(s string) string {
	if _, err := urlParser.Parse(s); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "missing a scheme"):
			return "relative URL without a base"
		case strings.Contains(msg, "does not contain a host"), strings.Contains(msg, "empty host"):
			return "empty host"
		}
		return "invalid URL"
	}
	return ""
}

// normaliseSource returns the normalised form of an item's source URL (stored
// normalised, like the Python CTMS: lower-case scheme and host, "/" path, ...).
func normaliseSource(src *string, loc []any) (*string, []ValidationItem) {
	if src == nil {
		return nil, nil
	}
	u, err := urlParser.Parse(*src)
	if err != nil {
		why := urlProblem(*src)
		return nil, []ValidationItem{{Type: "url_parsing", Loc: append(append([]any(nil), loc...), "source"),
			Msg: "Input should be a valid URL, " + why, Input: *src, Ctx: map[string]any{"error": why}}}
	}
	return new(u.Href(false)), nil
}

// waitlistFieldRule limits one member of a waitlist's fields.
type waitlistFieldRule struct {
	field     string
	maxLength int
}

// Rules of the reference (§4.2): geo and platform are strings (or null) of at
// most 100 characters everywhere; "relay" accepts only geo and "vpn" only geo
// and platform.
var (
	waitlistFieldRules = []waitlistFieldRule{{"geo", 100}, {"platform", 100}}
	waitlistAllowed    = map[string][]string{"relay": {"geo"}, "vpn": {"geo", "platform"}}
)

// waitlistFieldProblems checks a waitlist's fields against the rules for its name.
// As in pydantic, the error location omits "fields".
func waitlistFieldProblems(loc []any, name string, fields json.RawMessage) []ValidationItem {
	var m map[string]json.RawMessage
	if json.Unmarshal(fields, &m) != nil {
		return []ValidationItem{{Type: "dict_type", Loc: append(append([]any(nil), loc...), "fields"),
			Msg: "Input should be a valid dictionary", Input: string(fields)}}
	}
	var out []ValidationItem
	at := func(key string) []any { return append(append([]any(nil), loc...), key) }
	for _, rule := range waitlistFieldRules {
		raw, ok := m[rule.field]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var v any
			_ = json.Unmarshal(raw, &v)
			out = append(out, ValidationItem{Type: "string_type", Loc: at(rule.field), Msg: "Input should be a valid string", Input: v})
			continue
		}
		if utf8.RuneCountInString(s) > rule.maxLength {
			out = append(out, ValidationItem{Type: "string_too_long", Loc: at(rule.field),
				Msg: "String should have at most 100 characters", Input: s, Ctx: map[string]any{"max_length": rule.maxLength}})
		}
	}
	if allowed, strict := waitlistAllowed[name]; strict {
		for key, raw := range m {
			if !contains(allowed, key) {
				var v any
				_ = json.Unmarshal(raw, &v)
				out = append(out, ValidationItem{Type: "extra_forbidden", Loc: at(key), Msg: "Extra inputs are not permitted", Input: v})
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
