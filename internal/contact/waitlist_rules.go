package contact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// AllWaitlists is the waitlist name of rules that apply to every waitlist.
const AllWaitlists = "*"

// FieldRule limits one member of a waitlist's fields (a row of waitlist_field_rules).
type FieldRule struct {
	Waitlist       string // a waitlist name, or AllWaitlists
	Field          string
	MaxLength      *int
	Pattern        *regexp.Regexp
	AllowedValues  []string
	ExtraForbidden bool // the waitlist accepts only the fields it has rules for
}

// FieldProblem is one violation of the rules, located at a field of the fields object.
type FieldProblem struct {
	Field string
	Type  string // pydantic error type: string_type, string_too_long, ...
	Msg   string
	Input any
	Ctx   map[string]any
}

// FieldRules is the whole rule set.
type FieldRules []FieldRule

// For returns the rules in force for a waitlist: its own, plus the "*" rules
// for fields it has no rule of its own for; and whether other fields are refused.
func (rs FieldRules) For(waitlist string) (rules map[string]FieldRule, extraForbidden bool) {
	rules = map[string]FieldRule{}
	for _, r := range rs {
		if r.Waitlist == waitlist {
			rules[r.Field] = r
			extraForbidden = extraForbidden || r.ExtraForbidden
		}
	}
	for _, r := range rs {
		if _, own := rules[r.Field]; r.Waitlist == AllWaitlists && !own {
			if extraForbidden {
				continue // a closed waitlist accepts only the fields named for it
			}
			rules[r.Field] = r
			extraForbidden = extraForbidden || r.ExtraForbidden
		}
	}
	return rules, extraForbidden
}

// Check validates a waitlist's fields object (already known to be a JSON
// object). Problems name the waitlist and the field.
func (rs FieldRules) Check(waitlist string, fields json.RawMessage) []FieldProblem {
	if rs.allValid(waitlist, fields) {
		return nil
	}
	return rs.problems(waitlist, fields)
}

// problems is Check by decoding fields.
func (rs FieldRules) problems(waitlist string, fields json.RawMessage) []FieldProblem {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(fields, &m); err != nil {
		return []FieldProblem{{Type: "dict_type", Msg: "Input should be a valid dictionary", Input: string(fields)}}
	}
	rules, closed := rs.For(waitlist)
	// pydantic's messages for what the Python CTMS checks (extra fields, types,
	// lengths); the rules only CTMS-Go has (patterns, allowed values) name the
	// waitlist and field.
	where := func(field string) string { return fmt.Sprintf(" (waitlist '%s', field '%s')", waitlist, field) }
	var out []FieldProblem
	for _, field := range sortedKeys(m) {
		raw := m[field]
		rule, ok := rules[field]
		if !ok {
			if closed {
				var v any
				_ = json.Unmarshal(raw, &v)
				out = append(out, FieldProblem{Field: field, Type: "extra_forbidden", Input: v,
					Msg: "Extra inputs are not permitted"})
			}
			continue
		}
		if string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var v any
			_ = json.Unmarshal(raw, &v)
			out = append(out, FieldProblem{Field: field, Type: "string_type", Msg: "Input should be a valid string", Input: v})
			continue
		}
		if rule.MaxLength != nil && utf8.RuneCountInString(s) > *rule.MaxLength {
			out = append(out, FieldProblem{Field: field, Type: "string_too_long", Input: s,
				Msg: fmt.Sprintf("String should have at most %d characters", *rule.MaxLength),
				Ctx: map[string]any{"max_length": *rule.MaxLength}})
		}
		if rule.Pattern != nil && !rule.Pattern.MatchString(s) {
			out = append(out, FieldProblem{Field: field, Type: "string_pattern_mismatch", Input: s,
				Msg: fmt.Sprintf("String should match pattern '%s'%s", rule.Pattern, where(field)),
				Ctx: map[string]any{"pattern": rule.Pattern.String()}})
		}
		if len(rule.AllowedValues) > 0 && !slices.Contains(rule.AllowedValues, s) {
			expected := "'" + strings.Join(rule.AllowedValues, "', '") + "'"
			out = append(out, FieldProblem{Field: field, Type: "literal_error", Input: s,
				Msg: "Input should be one of " + expected + where(field), Ctx: map[string]any{"expected": expected}})
		}
	}
	return out
}

// allValid tells, without decoding fields, that it breaks no rule; false means
// that it may (Check then decodes it and says what is wrong).
func (rs FieldRules) allValid(waitlist string, fields json.RawMessage) bool {
	rules, closed := rs.For(waitlist)
	valid := true
	isObject, ok := members(fields, func(name, value []byte) {
		valid = valid && validMember(rules, closed, name, value)
	})
	return ok && isObject && valid
}

// validMember checks one member of fields: a member with a rule is null or a
// string that follows it; others are refused by a closed waitlist. Strings
// with escapes are left to the decoding check.
func validMember(rules map[string]FieldRule, closed bool, name, value []byte) bool {
	rule, ok := rules[string(name)]
	switch {
	case !ok:
		return !closed
	case string(value) == "null":
		return true
	case value[0] != '"' || bytes.IndexByte(value, '\\') >= 0 || !utf8.Valid(value):
		return false
	}
	s := value[1 : len(value)-1]
	if rule.MaxLength != nil && utf8.RuneCount(s) > *rule.MaxLength {
		return false
	}
	if rule.Pattern != nil && !rule.Pattern.Match(s) {
		return false
	}
	if len(rule.AllowedValues) == 0 {
		return true
	}
	for _, v := range rule.AllowedValues {
		if string(s) == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
