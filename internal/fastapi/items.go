package fastapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// ValidationItem is one entry of a 422 `detail` list, in pydantic's key order.
type ValidationItem struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
	URL   string         `json:"url,omitempty"`
}

// Items turns a kin-openapi request validation error into FastAPI-style
// entries (type, loc, msg, input, ctx), so clients see the shapes they know.
// Values are echoed as `input` like FastAPI does; they are never logged.
func Items(err error) []ValidationItem {
	var items []ValidationItem
	var walk func(error)
	walk = func(err error) {
		// A direct assertion: errors.As would also find the MultiError inside a
		// RequestError (its Err) and lose the error's location.
		if me, ok := err.(openapi3.MultiError); ok {
			for _, e := range me {
				walk(e)
			}
			return
		}
		re, ok := errors.AsType[*openapi3filter.RequestError](err)
		if !ok {
			items = append(items, ValidationItem{Type: "value_error", Loc: []any{}, Msg: err.Error()})
			return
		}
		switch {
		case re.Parameter != nil:
			loc := []any{re.Parameter.In, re.Parameter.Name}
			items = append(items, parameterItems(loc, re)...)
		default:
			items = append(items, ValidationItem{Type: "value_error", Loc: []any{}, Msg: re.Error()})
		}
	}
	walk(err)
	return items
}

func parameterItems(loc []any, re *openapi3filter.RequestError) []ValidationItem {
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) || re.Err == nil && strings.Contains(re.Reason, "required") {
		return []ValidationItem{{Type: "missing", Loc: loc, Msg: "Field required", Input: nil}}
	}
	if pe, ok := errors.AsType[*openapi3filter.ParseError](re.Err); ok {
		typ, msg := typeMismatch(re.Parameter.Schema.Value, pe.Value)
		return ParamUnionItems(re.Parameter, ValidationItem{Type: typ, Loc: loc, Msg: msg, Input: pe.Value})
	}
	return SchemaItems(loc, re.Err)
}

// ParamUnionItems is the error item of parameter p, typed, as pydantic lists
// it when p's type is a union of its type and literals (the parameter's
// x-union-tags, e.g. /updates' limit: Union[int, Literal[”]] has ["int",
// "literal[”]"]): the item under the first tag, then a literal_error under
// each other tag. Without tags, the item alone.
func ParamUnionItems(p *openapi3.Parameter, typed ValidationItem) []ValidationItem {
	tags, _ := p.Extensions["x-union-tags"].([]any)
	return UnionItems(tags, typed)
}

// UnionItems is typed as pydantic lists the error of a union of its type and
// literals tagged tags (the type's first): see ParamUnionItems.
func UnionItems(tags []any, typed ValidationItem) []ValidationItem {
	if len(tags) == 0 {
		return []ValidationItem{typed}
	}
	loc := typed.Loc
	typed.Loc = append(append([]any(nil), loc...), tags[0])
	out := []ValidationItem{typed}
	for _, tag := range tags[1:] {
		text, _ := tag.(string)
		literal, ok := strings.CutPrefix(text, "literal[")
		if !ok {
			continue
		}
		expected := strings.TrimSuffix(literal, "]")
		out = append(out, ValidationItem{Type: "literal_error", Loc: append(append([]any(nil), loc...), tag),
			Msg: "Input should be " + expected, Input: typed.Input, Ctx: map[string]any{"expected": expected}})
	}
	return out
}

// SchemaItems maps the errors of a parameter schema's VisitJSON below loc (bodies are
// checked by Model, walk.go).
func SchemaItems(loc []any, err error) []ValidationItem {
	var out []ValidationItem
	if me, ok := err.(openapi3.MultiError); ok {
		for _, e := range me {
			out = append(out, SchemaItems(loc, e)...)
		}
		return out
	}
	se, ok := errors.AsType[*openapi3.SchemaError](err)
	if !ok {
		if pe, ok := errors.AsType[*openapi3filter.ParseError](err); ok {
			return []ValidationItem{{Type: "json_invalid", Loc: loc, Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": pe.Reason}}}
		}
		return []ValidationItem{{Type: "value_error", Loc: loc, Msg: "Value error, " + err.Error()}}
	}
	path := append([]any(nil), loc...)
	for _, p := range se.JSONPointer() {
		if n, err := strconv.Atoi(p); err == nil {
			path = append(path, n)
		} else {
			path = append(path, p)
		}
	}
	return []ValidationItem{schemaItem(path, se)}
}

func schemaItem(loc []any, se *openapi3.SchemaError) ValidationItem {
	s := se.Schema
	item := ValidationItem{Loc: loc, Input: se.Value}
	field := se.SchemaField
	if len(s.Enum) > 0 {
		field = "enum" // a literal: any mismatch, of type too, is a literal_error
	}
	if s.Format == "date" && (field == "format" || field == "type") {
		// What LaxDate refuses.
		if _, p := LaxDate(se.Value); p != nil {
			item.Type, item.Msg, item.Ctx = p.Type, p.Msg, p.Ctx
			return item
		}
	}
	switch field {
	case "required":
		// kin reports the object; name the missing property like pydantic does.
		item.Type, item.Msg = "missing", "Field required"
		// kin's pointer may already end with the missing property.
		if name := missingProperty(se.Reason); name != "" && (len(loc) == 0 || loc[len(loc)-1] != name) {
			item.Loc = append(item.Loc, name)
		}
	case "maxLength":
		item.Type = "string_too_long"
		item.Msg = fmt.Sprintf("String should have at most %d %s", *s.MaxLength, plural(*s.MaxLength, "character"))
		item.Ctx = map[string]any{"max_length": *s.MaxLength}
	case "minLength":
		item.Type = "string_too_short"
		item.Msg = fmt.Sprintf("String should have at least %d %s", s.MinLength, plural(s.MinLength, "character"))
		item.Ctx = map[string]any{"min_length": s.MinLength}
	case "enum":
		expected := enumText(s.Enum)
		item.Type, item.Msg = "literal_error", "Input should be "+expected
		item.Ctx = map[string]any{"expected": expected}
	case "pattern":
		item.Type = "string_pattern_mismatch"
		item.Msg = fmt.Sprintf("String should match pattern '%s'", s.Pattern)
		item.Ctx = map[string]any{"pattern": s.Pattern}
	case "format":
		item.Type, item.Msg = formatError(s.Format, se)
		if s.Format == "uuid" || s.Format == "uri" {
			item.Ctx = map[string]any{"error": reasonTail(se)}
		}
	case "oneOf", "anyOf":
		item.Type, item.Msg = "union_error", "Input should match one of the allowed forms: "+unionText(s)
	default: // type, nullable and anything else: the value has the wrong type
		item.Type, item.Msg = typeMismatch(s, se.Value)
		// A null the Python CTMS refuses with an assertion (PATCH primary_email).
		if text, ok := s.Extensions["x-null-assertion"].(string); ok && se.Value == nil {
			item.Type, item.Msg = "assertion_error", "Assertion failed, "+text
			item.Ctx = map[string]any{"error": map[string]any{}}
		}
	}
	return item
}

func missingProperty(reason string) string {
	// kin: `property "primary_email" is missing`
	if i := strings.Index(reason, `"`); i >= 0 {
		if j := strings.Index(reason[i+1:], `"`); j >= 0 {
			return reason[i+1 : i+1+j]
		}
	}
	return ""
}

func plural(n uint64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// enumText renders enum values the way pydantic lists literals: 'H', 'T', 'N' or ”.
func enumText(values []any) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("'%v'", v)
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

func unionText(s *openapi3.Schema) string {
	alts := s.OneOf
	if len(alts) == 0 {
		alts = s.AnyOf
	}
	var names []string
	for _, a := range alts {
		switch {
		case a.Value != nil && len(a.Value.Enum) > 0:
			names = append(names, enumText(a.Value.Enum))
		case a.Value != nil && a.Value.Type != nil && len(a.Value.Type.Slice()) > 0:
			names = append(names, "a valid "+typeName(a.Value.Type.Slice()[0]))
		}
	}
	return strings.Join(names, ", ")
}

func typeName(t string) string {
	switch t {
	case "object":
		return "object"
	case "array":
		return "list"
	case "integer":
		return "integer"
	case "boolean":
		return "boolean"
	case "number":
		return "number"
	}
	return "string"
}

// typeMismatch names pydantic's error for a value v of the wrong type.
func typeMismatch(s *openapi3.Schema, v any) (typ, msg string) {
	t := "string"
	if s != nil && s.Type != nil && len(s.Type.Slice()) > 0 {
		t = s.Type.Slice()[0]
	}
	_, isString := v.(string)
	isNumber := false
	switch v.(type) {
	case json.Number, float64, int64, int:
		isNumber = true
	}
	switch t {
	case "boolean":
		// Lax bool: a string or number it cannot read is bool_parsing (other
		// types are bool_type).
		if isString || isNumber {
			return "bool_parsing", "Input should be a valid boolean, unable to interpret input"
		}
		return "bool_type", "Input should be a valid boolean"
	case "integer":
		if isString {
			return "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
		}
		return "int_type", "Input should be a valid integer"
	case "number":
		return "float_type", "Input should be a valid number"
	case "object":
		// A model (the schema names its fields) refuses a non-dict with
		// model_attributes_type; a plain dict field (waitlist fields) with dict_type.
		if s != nil && len(s.Properties) > 0 {
			return "model_attributes_type", "Input should be a valid dictionary or object to extract fields from"
		}
		return "dict_type", "Input should be a valid dictionary"
	case "array":
		return "list_type", "Input should be a valid list"
	}
	if s != nil && s.Format == "uuid" {
		return "uuid_type", "UUID input should be a string, bytes or UUID object"
	}
	if s != nil && s.Format == "uri" {
		return "url_type", "URL input should be a string or URL"
	}
	return "string_type", "Input should be a valid string"
}

func formatError(format string, se *openapi3.SchemaError) (typ, msg string) {
	switch format {
	case "uuid":
		return "uuid_parsing", "Input should be a valid UUID, " + reasonTail(se)
	case "uri":
		return "url_parsing", "Input should be a valid URL, " + reasonTail(se)
	case "date":
		return "date_from_datetime_parsing", "Input should be a valid date in the format YYYY-MM-DD"
	}
	return "value_error", "Value error, " + se.Reason
}

// reasonTail is the part of a format validator's message after the format name.
func reasonTail(se *openapi3.SchemaError) string {
	if se.Origin != nil {
		if why := errors.Unwrap(se.Origin); why != nil { // the validator's own error
			return why.Error()
		}
		return se.Origin.Error()
	}
	return se.Reason
}
