package fastapi

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/require"
)

// schemaOf loads a schema written in JSON.
func schemaOf(t *testing.T, text string) *openapi3.Schema {
	t.Helper()
	var s openapi3.Schema
	require.NoError(t, json.Unmarshal([]byte(text), &s))
	return &s
}

func TestSchemaItems(t *testing.T) {
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
		if len(s) != 36 {
			return errors.New("invalid length")
		}
		return nil
	}))
	cases := []struct {
		name, schema, body string
		want               []ValidationItem
	}{
		{"too long", `{"type":"object","properties":{"n":{"type":"string","maxLength":2}}}`, `{"n":"abc"}`,
			[]ValidationItem{{Type: "string_too_long", Loc: []any{"body", "n"}, Msg: "String should have at most 2 characters",
				Input: "abc", Ctx: map[string]any{"max_length": uint64(2)}}}},
		{"too short", `{"type":"object","properties":{"n":{"type":"string","minLength":1}}}`, `{"n":""}`,
			[]ValidationItem{{Type: "string_too_short", Loc: []any{"body", "n"}, Msg: "String should have at least 1 character",
				Input: "", Ctx: map[string]any{"min_length": uint64(1)}}}},
		{"literal", `{"type":"object","properties":{"f":{"type":"string","enum":["H","T","N"]}}}`, `{"f":"X"}`,
			[]ValidationItem{{Type: "literal_error", Loc: []any{"body", "f"}, Msg: "Input should be 'H', 'T' or 'N'",
				Input: "X", Ctx: map[string]any{"expected": "'H', 'T' or 'N'"}}}},
		{"pattern", `{"type":"object","properties":{"p":{"type":"string","pattern":"^a+$"}}}`, `{"p":"b"}`,
			[]ValidationItem{{Type: "string_pattern_mismatch", Loc: []any{"body", "p"}, Msg: "String should match pattern '^a+$'",
				Input: "b", Ctx: map[string]any{"pattern": "^a+$"}}}},
		{"missing", `{"type":"object","required":["email"],"properties":{"email":{"type":"object"}}}`, `{}`,
			[]ValidationItem{{Type: "missing", Loc: []any{"body", "email"}, Msg: "Field required", Input: map[string]any{}}}},
		// pydantic (lax): a string or number that is no boolean is bool_parsing,
		// null bool_type; a string that is no integer int_parsing; a non-dict is
		// dict_type for a dict and model_attributes_type for a model.
		{"wrong types", `{"type":"object","properties":{"b":{"type":"boolean"},"n":{"type":"boolean"},"z":{"type":"boolean"},
			"i":{"type":"integer"},"l":{"type":"array"},"o":{"type":"object"},"m":{"type":"object","properties":{"x":{}}}}}`,
			`{"b":"x","n":2,"z":null,"i":"x","l":"x","o":"x","m":[]}`, []ValidationItem{
				{Type: "bool_parsing", Loc: []any{"body", "b"}, Msg: "Input should be a valid boolean, unable to interpret input", Input: "x"},
				{Type: "int_parsing", Loc: []any{"body", "i"}, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: "x"},
				{Type: "list_type", Loc: []any{"body", "l"}, Msg: "Input should be a valid list", Input: "x"},
				{Type: "model_attributes_type", Loc: []any{"body", "m"}, Msg: "Input should be a valid dictionary or object to extract fields from", Input: []any{}},
				{Type: "bool_parsing", Loc: []any{"body", "n"}, Msg: "Input should be a valid boolean, unable to interpret input", Input: float64(2)},
				{Type: "dict_type", Loc: []any{"body", "o"}, Msg: "Input should be a valid dictionary", Input: "x"},
				{Type: "bool_type", Loc: []any{"body", "z"}, Msg: "Input should be a valid boolean", Input: nil},
			}},
		{"uuid", `{"type":"object","properties":{"id":{"type":"string","format":"uuid"}}}`, `{"id":"x"}`,
			[]ValidationItem{{Type: "uuid_parsing", Loc: []any{"body", "id"}, Msg: "Input should be a valid UUID, invalid length",
				Input: "x", Ctx: map[string]any{"error": "invalid length"}}}},
		{"list item", `{"type":"object","properties":{"l":{"type":"array","items":{"type":"object","properties":{"n":{"type":"string"}}}}}}`,
			`{"l":[{"n":"a"},{"n":1}]}`, []ValidationItem{{Type: "string_type", Loc: []any{"body", "l", 1, "n"},
				Msg: "Input should be a valid string", Input: float64(1)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := DecodeBody([]byte(c.body))
			require.NoError(t, err)
			err = schemaOf(t, c.schema).VisitJSON(d.Value, openapi3.VisitAsRequest(), openapi3.MultiErrors())
			require.Error(t, err)
			require.Equal(t, c.want, SchemaItems([]any{"body"}, err))
		})
	}
}

func TestParameterItems(t *testing.T) {
	limit := &openapi3.Parameter{Name: "limit", In: "query", Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"integer"}`)}}
	unionLimit := &openapi3.Parameter{Name: "limit", In: "query", Schema: limit.Schema,
		Extensions: map[string]any{"x-union-tags": []any{"int", "literal['']"}}}
	start := &openapi3.Parameter{Name: "start", In: "query", Required: true, Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"string"}`)}}
	cases := []struct {
		query string
		param *openapi3.Parameter
		want  []ValidationItem
	}{
		{"limit=x", limit, []ValidationItem{{Type: "int_parsing", Loc: []any{"query", "limit"}, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: "x"}}},
		{"", start, []ValidationItem{{Type: "missing", Loc: []any{"query", "start"}, Msg: "Field required", Input: nil}}},
		// /updates' limit is Union[int, Literal['']]: pydantic lists each member's error under its tag.
		{"limit=1.5", unionLimit, []ValidationItem{
			{Type: "int_parsing", Loc: []any{"query", "limit", "int"}, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: "1.5"},
			{Type: "literal_error", Loc: []any{"query", "limit", "literal['']"}, Msg: "Input should be ''", Input: "1.5", Ctx: map[string]any{"expected": "''"}},
		}},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		in := &openapi3filter.RequestValidationInput{Request: httptest.NewRequest("GET", "/?"+c.query, nil), QueryParams: q,
			Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true}}
		err := openapi3filter.ValidateParameter(t.Context(), in, c.param)
		require.Error(t, err, c.query)
		require.Equal(t, c.want, Items(err), c.query)
	}
}
