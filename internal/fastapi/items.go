package fastapi

import (
	"errors"
	"fmt"
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
		typ, msg := typeMismatch(re.Parameter.Schema.Value)
		return ParamUnionItems(re.Parameter, ValidationItem{Type: typ, Loc: loc, Msg: msg, Input: pe.Value})
	}
	return schemaItems(loc, re.Err)
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

// schemaItems maps the errors of a parameter schema's VisitJSON at loc. The
// parameters of api/openapi.yaml are strings (of format uuid, of a minimum
// length), integers and booleans: their values are scalars, their errors a
// length, a format or a type (bodies are checked by Model, walk.go).
func schemaItems(loc []any, err error) []ValidationItem {
	var out []ValidationItem
	if me, ok := err.(openapi3.MultiError); ok {
		for _, e := range me {
			out = append(out, schemaItems(loc, e)...)
		}
		return out
	}
	se, ok := errors.AsType[*openapi3.SchemaError](err)
	if !ok {
		return []ValidationItem{{Type: "value_error", Loc: loc, Msg: "Value error, " + err.Error()}}
	}
	return []ValidationItem{schemaItem(loc, se)}
}

func schemaItem(loc []any, se *openapi3.SchemaError) ValidationItem {
	s := se.Schema
	item := ValidationItem{Loc: loc, Input: se.Value}
	switch se.SchemaField {
	case "maxLength":
		item.Type = "string_too_long"
		item.Msg = fmt.Sprintf("String should have at most %d %s", *s.MaxLength, plural(*s.MaxLength, "character"))
		item.Ctx = map[string]any{"max_length": *s.MaxLength}
	case "minLength":
		item.Type = "string_too_short"
		item.Msg = fmt.Sprintf("String should have at least %d %s", s.MinLength, plural(s.MinLength, "character"))
		item.Ctx = map[string]any{"min_length": s.MinLength}
	case "format":
		if s.Format != "uuid" {
			item.Type, item.Msg = "value_error", "Value error, "+se.Reason
			break
		}
		item.Type, item.Msg = "uuid_parsing", "Input should be a valid UUID, "+reasonTail(se)
		item.Ctx = map[string]any{"error": reasonTail(se)}
	default: // type and anything else: the value has the wrong type
		item.Type, item.Msg = typeMismatch(s)
	}
	return item
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

// typeMismatch names pydantic's error for a parameter value (a string as
// sent) that schema s's type cannot read.
func typeMismatch(s *openapi3.Schema) (typ, msg string) {
	t := "string"
	if s != nil && s.Type != nil && len(s.Type.Slice()) > 0 {
		t = s.Type.Slice()[0]
	}
	switch t {
	case "boolean":
		return "bool_parsing", "Input should be a valid boolean, unable to interpret input"
	case "integer":
		return "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
	}
	if s != nil && s.Format == "uuid" {
		return "uuid_type", "UUID input should be a string, bytes or UUID object"
	}
	return "string_type", "Input should be a valid string"
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
