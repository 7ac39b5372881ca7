package fastapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// Model validates a JSON request body as pydantic validates the model FastAPI
// reads it into, from the body's schema in api/openapi.yaml: a model's fields
// in declaration order (x-order), lax booleans and dates, UUIDs as the Rust
// crate reads them, literals, URLs, unions tried in order and, when none
// matches, the errors of every alternative under its tag (x-union-tags),
// unknown members ignored. It yields pydantic's error items in pydantic's
// order or, when there are none, the checked values.
//
// The schema is compiled once (NewModel); Check allocates only for what it
// converts and for the items of a body it refuses.
type Model struct {
	root  *node
	names map[string]string // every member name the schema declares (Decode)
}

// Checks are what a Model needs beyond the schema.
type Checks struct {
	// URL reads s as an absolute URL (format uri): its normalised form, the
	// checked value, or why it is none.
	URL func(s string) (normalised, why string)
	// After are the validators a model's x-after-validator names: run, as
	// pydantic's after validators, once the model's fields are valid, with its
	// checked members. The items' loc are relative to the model; an error (the
	// rules could not be read) ends the walk.
	After map[string]func(ctx context.Context, model map[string]any) ([]ValidationItem, error)
}

type kind int

const (
	kindModel kind = iota
	kindDict       // an object without declared properties: taken as it is
	kindList
	kindUnion
	kindLiteral
	kindBool
	kindString
	kindUUID
	kindDate
	kindURL
)

// node is a compiled schema.
type node struct {
	kind          kind
	nullable      bool
	nullAssertion string // x-null-assertion: what pydantic's assertion says of a null
	minLength     int
	maxLength     int // -1: none
	uuidVersion   int // x-uuid-version
	fields        []field
	after         string  // x-after-validator
	items         *node   // list
	alts          []*node // union, with their tags (x-union-tags)
	tags          []any
	enum          []string
	expected      string // the enum as pydantic lists it: 'H', 'T' or ”
}

type field struct {
	name     string
	at       any // name as a loc segment, boxed once
	required bool
	node     *node
}

// NewModel compiles schema (a request body's).
func NewModel(schema *openapi3.Schema) (*Model, error) {
	n, err := compile(schema)
	if err != nil {
		return nil, err
	}
	m := &Model{root: n, names: map[string]string{}}
	m.visit(n, map[*node]bool{}, func(n *node) {
		for _, f := range n.fields {
			m.names[f.name] = f.name
		}
	})
	return m, nil
}

// Verify tells whether checks give the model all it needs beyond its schema:
// a URL check when it has URLs, each after validator it names (called at
// start-up, so that nothing is left unchecked at run time).
func (m *Model) Verify(checks *Checks) error {
	var err error
	m.visit(m.root, map[*node]bool{}, func(n *node) {
		switch {
		case err != nil:
		case n.kind == kindURL && (checks == nil || checks.URL == nil):
			err = errors.New("the body has URLs and no URL check")
		case n.after != "" && (checks == nil || checks.After[n.after] == nil):
			err = fmt.Errorf("no after validator %q", n.after)
		}
	})
	return err
}

// visit calls f on n and every node below it, once each.
func (m *Model) visit(n *node, seen map[*node]bool, f func(*node)) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	f(n)
	for i := range n.fields {
		m.visit(n.fields[i].node, seen, f)
	}
	m.visit(n.items, seen, f)
	for _, a := range n.alts {
		m.visit(a, seen, f)
	}
}

// compile reads s. What it does not check (a type, a format, a keyword) is
// an error, never ignored: the body would be let through unchecked.
func compile(s *openapi3.Schema) (*node, error) {
	if err := supported(s); err != nil {
		return nil, err
	}
	n := &node{nullable: s.Nullable, maxLength: -1}
	n.nullAssertion, _ = s.Extensions["x-null-assertion"].(string)
	if len(s.AllOf) == 1 && s.AllOf[0].Value != nil { // a nullable wrapper of a $ref
		inner, err := compile(s.AllOf[0].Value)
		if err != nil {
			return nil, err
		}
		wrapped := *inner
		wrapped.nullable = wrapped.nullable || s.Nullable
		return &wrapped, nil
	}
	switch {
	case len(s.OneOf) > 0:
		n.kind = kindUnion
		tags, _ := s.Extensions["x-union-tags"].([]any)
		if len(tags) != len(s.OneOf) {
			return nil, fmt.Errorf("a oneOf needs one x-union-tags entry per alternative")
		}
		for i, alt := range s.OneOf {
			a, err := compile(alt.Value)
			if err != nil {
				return nil, err
			}
			tag, _ := tags[i].(string)
			n.alts, n.tags = append(n.alts, a), append(n.tags, any(tag))
		}
	case len(s.Enum) > 0:
		n.kind = kindLiteral
		for _, v := range s.Enum {
			text, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("enum value %v is not a string", v)
			}
			n.enum = append(n.enum, text)
		}
		n.expected = enumText(s.Enum)
	case s.Type.Is("boolean"):
		n.kind = kindBool
	case s.Type.Is("string"):
		n.kind = kindString
		switch s.Format {
		case "uuid":
			n.kind = kindUUID
			if v, ok := s.Extensions["x-uuid-version"].(float64); ok {
				n.uuidVersion = int(v)
			}
		case "date":
			n.kind = kindDate
		case "uri":
			n.kind = kindURL
		}
		n.minLength = bound(s.MinLength)
		if s.MaxLength != nil {
			n.maxLength = bound(*s.MaxLength)
		}
	case s.Type.Is("array"):
		n.kind = kindList
		if s.Items == nil || s.Items.Value == nil {
			return nil, fmt.Errorf("an array needs items")
		}
		items, err := compile(s.Items.Value)
		if err != nil {
			return nil, err
		}
		n.items = items
	case s.Type.Is("object") && len(s.Properties) == 0:
		n.kind = kindDict
	case s.Type.Is("object"):
		n.kind = kindModel
		n.after, _ = s.Extensions["x-after-validator"].(string)
		for name, ref := range s.Properties {
			f, err := compile(ref.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			n.fields = append(n.fields, field{name: name, at: name, required: slices.Contains(s.Required, name), node: f})
		}
		slices.SortFunc(n.fields, func(a, b field) int {
			if d := order(s.Properties[a.name]) - order(s.Properties[b.name]); d != 0 {
				return d
			}
			return strings.Compare(a.name, b.name)
		})
	default:
		return nil, fmt.Errorf("a schema without a type the body walker checks (%v)", s.Type.Slice())
	}
	return n, nil
}

// checkedKeywords are the keywords compile reads, and annotations that do not
// constrain the value; "x-" extensions are annotations too.
var checkedKeywords = map[string]bool{
	"type": true, "format": true, "enum": true, "nullable": true, "oneOf": true, "allOf": true,
	"properties": true, "required": true, "additionalProperties": true, "items": true,
	"minLength": true, "maxLength": true,
	"title": true, "description": true, "default": true, "example": true, "deprecated": true,
}

// supported tells why compile cannot check s as its keywords say, nil when it can.
func supported(s *openapi3.Schema) error {
	text, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	var keywords map[string]json.RawMessage
	if err := json.Unmarshal(text, &keywords); err != nil {
		return err
	}
	for k := range keywords {
		if !checkedKeywords[k] && !strings.HasPrefix(k, "x-") {
			return fmt.Errorf("keyword %q is not checked by the body walker", k)
		}
	}
	typed := s.Type != nil && len(s.Type.Slice()) > 0
	switch {
	case typed && len(s.Type.Slice()) != 1:
		return fmt.Errorf("a schema of several types (%v)", s.Type.Slice())
	case !typed && len(s.OneOf) == 0 && len(s.AllOf) == 0 && len(s.Enum) == 0:
		return fmt.Errorf("a schema without a type")
	case len(s.AllOf) > 1:
		return fmt.Errorf("an allOf of several schemas")
	case s.Format != "" && !(s.Type.Is("string") && slices.Contains([]string{"uuid", "date", "uri"}, s.Format)):
		return fmt.Errorf("format %q of type %v", s.Format, s.Type.Slice())
	case s.AdditionalProperties.Schema != nil,
		s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has:
		return fmt.Errorf("additionalProperties other than true") // pydantic's default: unknown members ignored
	}
	return nil
}

// bound is a schema's length bound as an int: no string of a body (1 MiB at
// most) comes near the bounds it cannot represent.
func bound(v uint64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// order is a property's x-order (written next to its $ref, or in its schema);
// properties without one come last, by name.
func order(ref *openapi3.SchemaRef) int {
	for _, ext := range []map[string]any{ref.Extensions, ref.Value.Extensions} {
		if v, ok := ext["x-order"].(float64); ok {
			return int(v)
		}
	}
	return 1 << 30
}

// Check validates v, a body decoded by DecodeBody. Without items, the checked
// body is v with its values converted in place: lax booleans to bool, UUIDs to
// uuid.UUID, dates to time.Time (midnight UTC); strings, lists, objects and
// the text of raw objects (json.RawMessage) stay as they are.
func (m *Model) Check(ctx context.Context, v any, checks *Checks) (checked any, items []ValidationItem, err error) {
	w := walker{ctx: ctx, checks: checks, loc: make([]any, 1, 8)}
	w.loc[0] = "body"
	checked, _ = w.value(m.root, v)
	return checked, w.items, w.err
}

type walker struct {
	ctx    context.Context
	checks *Checks
	loc    []any // where the walk is: "body", then member names, indexes, union tags
	items  []ValidationItem
	err    error // of an after validator
}

// fail adds an item at the current location.
func (w *walker) fail(typ, msg string, input any, ctx map[string]any) {
	w.items = append(w.items, ValidationItem{Type: typ, Loc: slices.Clone(w.loc), Msg: msg, Input: input, Ctx: ctx})
}

// value checks v against n; ok is false when it added items.
func (w *walker) value(n *node, v any) (checked any, ok bool) {
	if v == nil {
		switch {
		case n.nullable:
			return nil, true
		case n.nullAssertion != "":
			w.fail("assertion_error", "Assertion failed, "+n.nullAssertion, nil, map[string]any{"error": map[string]any{}})
			return nil, false
		}
	}
	before := len(w.items)
	switch n.kind {
	case kindModel:
		m, isObject := v.(map[string]any)
		if !isObject {
			w.fail("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", v, nil)
			return v, false
		}
		w.model(n, m)
	case kindDict:
		switch x := v.(type) {
		case map[string]any:
		case json.RawMessage:
			if len(x) == 0 || x[0] != '{' {
				w.fail("dict_type", "Input should be a valid dictionary", v, nil)
			}
		default:
			w.fail("dict_type", "Input should be a valid dictionary", v, nil)
		}
	case kindList:
		list, isList := v.([]any)
		if !isList {
			w.fail("list_type", "Input should be a valid list", v, nil)
			return v, false
		}
		for i, item := range list {
			w.loc = append(w.loc, i)
			if c, ok := w.value(n.items, item); ok {
				list[i] = c
			}
			w.loc = w.loc[:len(w.loc)-1]
		}
	case kindUnion:
		return w.union(n, v)
	case kindLiteral:
		if s, isString := v.(string); !isString || !slices.Contains(n.enum, s) {
			w.fail("literal_error", "Input should be "+n.expected, v, map[string]any{"expected": n.expected})
		}
	case kindBool:
		b, problem := laxBool(v)
		switch problem {
		case "":
			return b, true
		case "bool_parsing":
			w.fail("bool_parsing", "Input should be a valid boolean, unable to interpret input", v, nil)
		default:
			w.fail("bool_type", "Input should be a valid boolean", v, nil)
		}
	case kindUUID:
		return w.uuid(n, v)
	case kindDate:
		day, p := LaxDate(v)
		if p != nil {
			w.fail(p.Type, p.Msg, v, p.Ctx)
			return v, false
		}
		t, err := time.Parse(time.DateOnly, day)
		if err != nil { // LaxDate gives real days only
			w.fail("date_type", "Input should be a valid date", v, nil)
			return v, false
		}
		return t, true
	case kindURL:
		s, isString := v.(string)
		if !isString {
			w.fail("url_type", "URL input should be a string or URL", v, nil)
			return v, false
		}
		if w.checks == nil || w.checks.URL == nil {
			w.err = errors.New("no URL check (Model.Verify)")
			return v, false
		}
		normalised, why := w.checks.URL(s)
		if why != "" {
			w.fail("url_parsing", "Input should be a valid URL, "+why, v, map[string]any{"error": why})
			return v, false
		}
		return normalised, true
	case kindString:
		w.str(n, v)
	}
	return v, len(w.items) == before
}

// model checks the fields of m in declaration order, then its after validator.
func (w *walker) model(n *node, m map[string]any) {
	before := len(w.items)
	for i := range n.fields {
		f := &n.fields[i]
		member, present := m[f.name]
		w.loc = append(w.loc, f.at)
		switch {
		case present:
			if c, ok := w.value(f.node, member); ok {
				m[f.name] = c
			}
		case f.required:
			w.fail("missing", "Field required", m, nil)
		}
		w.loc = w.loc[:len(w.loc)-1]
	}
	if n.after == "" || len(w.items) > before || w.err != nil {
		return
	}
	if w.checks == nil || w.checks.After[n.after] == nil {
		w.err = fmt.Errorf("no after validator %q (Model.Verify)", n.after)
		return
	}
	items, err := w.checks.After[n.after](w.ctx, m)
	if err != nil {
		w.err = err
		return
	}
	for _, item := range items {
		item.Loc = append(slices.Clone(w.loc), item.Loc...)
		w.items = append(w.items, item)
	}
}

// union is pydantic's smart union, for alternatives that cannot both match (a
// literal and a model or list): the first that matches; else the items of every
// alternative, each under its tag.
func (w *walker) union(n *node, v any) (any, bool) {
	before := len(w.items)
	for i, alt := range n.alts {
		w.loc = append(w.loc, n.tags[i])
		c, ok := w.value(alt, v)
		w.loc = w.loc[:len(w.loc)-1]
		if ok {
			w.items = w.items[:before]
			return c, true
		}
	}
	return v, false
}

func (w *walker) uuid(n *node, v any) (any, bool) {
	s, isString := v.(string)
	if !isString {
		w.fail("uuid_type", "UUID input should be a string, bytes or UUID object", v, nil)
		return v, false
	}
	id, why := ParseUUID(s)
	if why != "" {
		w.fail("uuid_parsing", "Input should be a valid UUID, "+why, v, map[string]any{"error": why})
		return v, false
	}
	if n.uuidVersion != 0 && int(id.Version()) != n.uuidVersion {
		w.fail("uuid_version", fmt.Sprintf("UUID version %d expected", n.uuidVersion), v,
			map[string]any{"expected_version": n.uuidVersion})
		return v, false
	}
	return id, true
}

// str checks a string: only a JSON string, its length counted in characters.
func (w *walker) str(n *node, v any) {
	s, isString := v.(string)
	if !isString {
		w.fail("string_type", "Input should be a valid string", v, nil)
		return
	}
	if n.minLength == 0 && n.maxLength < 0 {
		return
	}
	switch length := utf8.RuneCountInString(s); {
	case length < n.minLength:
		w.fail("string_too_short", fmt.Sprintf("String should have at least %d %s", n.minLength, characters(n.minLength)),
			v, map[string]any{"min_length": n.minLength})
	case n.maxLength >= 0 && length > n.maxLength:
		w.fail("string_too_long", fmt.Sprintf("String should have at most %d %s", n.maxLength, characters(n.maxLength)),
			v, map[string]any{"max_length": n.maxLength})
	}
}

func characters(n int) string {
	if n == 1 {
		return "character"
	}
	return "characters"
}
