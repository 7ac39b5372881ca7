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

func TestParameterItems(t *testing.T) {
	limit := &openapi3.Parameter{Name: "limit", In: "query", Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"integer"}`)}}
	unionLimit := &openapi3.Parameter{Name: "limit", In: "query", Schema: limit.Schema,
		Extensions: map[string]any{"x-union-tags": []any{"int", "literal['']"}}}
	start := &openapi3.Parameter{Name: "start", In: "query", Required: true, Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"string"}`)}}
	mofoRelevant := &openapi3.Parameter{Name: "mofo_relevant", In: "query", Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"boolean"}`)}}
	emailID := &openapi3.Parameter{Name: "email_id", In: "query", Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"string","format":"uuid"}`)}}
	short := &openapi3.Parameter{Name: "sfdc_id", In: "query", Schema: &openapi3.SchemaRef{Value: schemaOf(t, `{"type":"string","minLength":3}`)}}
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
		if len(s) != 36 {
			return errors.New("invalid length")
		}
		return nil
	}))
	cases := []struct {
		query string
		param *openapi3.Parameter
		want  []ValidationItem
	}{
		{"limit=x", limit, []ValidationItem{{Type: "int_parsing", Loc: []any{"query", "limit"}, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: "x"}}},
		{"", start, []ValidationItem{{Type: "missing", Loc: []any{"query", "start"}, Msg: "Field required", Input: nil}}},
		{"mofo_relevant=maybe", mofoRelevant, []ValidationItem{{Type: "bool_parsing", Loc: []any{"query", "mofo_relevant"},
			Msg: "Input should be a valid boolean, unable to interpret input", Input: "maybe"}}},
		{"email_id=x", emailID, []ValidationItem{{Type: "uuid_parsing", Loc: []any{"query", "email_id"},
			Msg: "Input should be a valid UUID, invalid length", Input: "x", Ctx: map[string]any{"error": "invalid length"}}}},
		{"sfdc_id=ab", short, []ValidationItem{{Type: "string_too_short", Loc: []any{"query", "sfdc_id"},
			Msg: "String should have at least 3 characters", Input: "ab", Ctx: map[string]any{"min_length": uint64(3)}}}},
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
