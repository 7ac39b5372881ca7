package fastapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// A small spec in the shape of api/openapi.yaml's bodies: a model whose fields
// are declared (x-order) out of alphabetical order, a union with tags, a list
// of models with an after validator.
const walkSpec = `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    Body:
      type: object
      required: [zeta]
      properties:
        zeta: {type: string, maxLength: 3, x-order: 1}
        alpha: {type: boolean, x-order: 2}
        id: {type: string, format: uuid, nullable: true, x-uuid-version: 4, x-order: 3}
        day: {type: string, format: date, nullable: true, x-order: 4}
        group:
          oneOf:
            - {type: string, enum: [DELETE]}
            - {$ref: "#/components/schemas/Group"}
          x-union-tags: ["literal['DELETE']", "GroupBase"]
          x-order: 5
        items: {type: array, items: {$ref: "#/components/schemas/Item"}, x-order: 6}
        never: {type: string, x-null-assertion: never may not be None, x-order: 7}
        link: {type: string, format: uri, nullable: true, x-order: 8}
    Group:
      type: object
      properties:
        on: {type: boolean, x-order: 1}
    Item:
      type: object
      required: [name]
      x-after-validator: check
      properties:
        name: {type: string, minLength: 1, x-order: 1}
`

func walkModel(t *testing.T) *Model {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(walkSpec))
	require.NoError(t, err)
	m, err := NewModel(doc.Components.Schemas["Body"].Value)
	require.NoError(t, err)
	return m
}

var walkChecks = &Checks{URL: func(s string) (string, string) {
	if !strings.Contains(s, "://") {
		return "", "relative URL without a base"
	}
	return strings.ToLower(s), ""
}, After: map[string]func(context.Context, map[string]any) ([]ValidationItem, error){
	"check": func(_ context.Context, item map[string]any) ([]ValidationItem, error) {
		if item["name"] == "bad" {
			return []ValidationItem{{Type: "value_error", Loc: []any{"name"}, Msg: "Value error, bad", Input: "bad"}}, nil
		}
		if item["name"] == "fail" {
			return nil, errors.New("rules unavailable")
		}
		return nil, nil
	},
}}

func check(t *testing.T, m *Model, body string) (any, []ValidationItem, error) {
	t.Helper()
	d, err := m.Decode([]byte(body))
	require.NoError(t, err)
	return m.Check(context.Background(), d, walkChecks)
}

func TestModelCheckedValues(t *testing.T) {
	m := walkModel(t)
	id := uuid.New()
	checked, items, err := check(t, m, `{"zeta":"abc","alpha":"on","id":"`+id.String()+`","day":1611792000,"group":{"on":0},"items":[{"name":"a","x":1}],"other":[1],"link":"HTTPS://X.example/"}`)
	require.NoError(t, err)
	require.Empty(t, items)
	require.Equal(t, map[string]any{"zeta": "abc", "alpha": true, "id": id, "day": time.Date(2021, 1, 28, 0, 0, 0, 0, time.UTC),
		"group": map[string]any{"on": false}, "items": []any{map[string]any{"name": "a", "x": json1}}, "other": []any{json1},
		"link": "https://x.example/"}, checked) // a URL as Checks.URL normalises it
	checked, items, _ = check(t, m, `{"zeta":"","group":"DELETE","id":null,"day":null}`)
	require.Empty(t, items)
	require.Equal(t, map[string]any{"zeta": "", "group": "DELETE", "id": nil, "day": nil}, checked)
}

func TestModelItemsInFieldOrder(t *testing.T) {
	m := walkModel(t)
	_, items, err := check(t, m, `{"never":null,"items":[{"name":""},{"name":"bad"},{}],"group":{"on":"maybe"},"day":"2021-01-28T10:00:00","id":"a8098c1a-f86e-11da-bd1a-00112444be1e","alpha":2,"Zeta":"x"}`)
	require.NoError(t, err)
	var got [][]any
	for _, it := range items {
		got = append(got, append([]any{it.Type}, it.Loc...))
	}
	require.Equal(t, [][]any{
		{"missing", "body", "zeta"}, // a case variant is no member
		{"bool_parsing", "body", "alpha"},
		{"uuid_version", "body", "id"},
		{"date_from_datetime_inexact", "body", "day"},
		{"literal_error", "body", "group", "literal['DELETE']"},
		{"bool_parsing", "body", "group", "GroupBase", "on"},
		{"string_too_short", "body", "items", 0, "name"},
		{"value_error", "body", "items", 1, "name"}, // the after validator, at its item's place
		{"missing", "body", "items", 2, "name"},
		{"assertion_error", "body", "never"},
	}, got)
	require.Equal(t, map[string]any{"error": map[string]any{}}, items[len(items)-1].Ctx)
}

func TestModelAfterValidatorError(t *testing.T) {
	_, _, err := check(t, walkModel(t), `{"zeta":"a","items":[{"name":"fail"}]}`)
	require.EqualError(t, err, "rules unavailable")
}

var json1 = mustNumber("1")

func mustNumber(s string) any {
	d, err := DecodeBody([]byte(s))
	if err != nil {
		panic(err)
	}
	return d
}

// The walker knows only some of OpenAPI: a body schema that says more than it
// understands (a keyword, a type, a format) is refused when compiled, not
// ignored (which would accept what the schema forbids).
func TestNewModelRefusesWhatItDoesNotCheck(t *testing.T) {
	for _, schema := range []string{
		`{type: integer}`, `{type: number}`, `{}`, `{description: anything}`, `{type: [string, "null"]}`,
		`{type: string, pattern: "^a$"}`, `{type: string, format: email}`, `{type: boolean, format: uri}`,
		`{type: array, items: {type: string}, minItems: 1}`, `{type: array, items: {type: string}, uniqueItems: true}`,
		`{type: object, properties: {a: {type: string}}, additionalProperties: false}`,
		`{type: object, additionalProperties: {type: string}}`, `{type: object, minProperties: 1}`,
		`{anyOf: [{type: string}]}`, `{not: {type: string}}`, `{allOf: [{type: string}, {type: boolean}]}`,
		`{type: object, properties: {a: {type: integer}}}`, `{type: array, items: {type: string, maxItems: 1}}`,
		`{type: string, enum: [a], minimum: 1}`,
	} {
		_, err := NewModel(bodySchema(t, schema))
		require.Error(t, err, schema)
	}
	for _, schema := range []string{
		`{type: string, title: t, description: d, example: x, default: y, x-go-name: Z}`,
		`{type: object, additionalProperties: true}`, `{type: object, properties: {a: {type: string}}, additionalProperties: true}`,
		`{type: string, enum: [a, b], nullable: true}`, `{allOf: [{type: string}], nullable: true}`,
	} {
		_, err := NewModel(bodySchema(t, schema))
		require.NoError(t, err, schema)
	}
}

// bodySchema loads a schema written in YAML, as api/openapi.yaml's.
func bodySchema(t *testing.T, schema string) *openapi3.Schema {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte("openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths: {}\n" +
		"components: {schemas: {S: " + schema + "}}\n"))
	require.NoError(t, err, schema)
	return doc.Components.Schemas["S"].Value
}

// What a model needs beyond its schema is checked once, at start-up: a URL
// check when it has URLs, every after validator it names.
func TestModelVerifyChecks(t *testing.T) {
	m := walkModel(t)
	require.NoError(t, m.Verify(walkChecks))
	require.ErrorContains(t, m.Verify(&Checks{URL: walkChecks.URL}), `after validator "check"`)
	require.ErrorContains(t, m.Verify(&Checks{After: walkChecks.After}), "URL")
	require.Error(t, m.Verify(nil))
}

// Without its checks, a model fails closed: an error, not a value let through.
func TestModelCheckWithoutChecksFails(t *testing.T) {
	m := walkModel(t)
	for body, checks := range map[string]*Checks{
		`{"zeta":"a","link":"https://example.com/"}`: {After: walkChecks.After},
		`{"zeta":"a","items":[{"name":"x"}]}`:        {URL: walkChecks.URL},
	} {
		d, err := m.Decode([]byte(body))
		require.NoError(t, err)
		_, _, err = m.Check(context.Background(), d, checks)
		require.Error(t, err, body)
	}
	_, items, err := check(t, m, `{"zeta":"a","link":"example.com"}`)
	require.NoError(t, err)
	require.Equal(t, []ValidationItem{{Type: "url_parsing", Loc: []any{"body", "link"}, Msg: "Input should be a valid URL, relative URL without a base",
		Input: "example.com", Ctx: map[string]any{"error": "relative URL without a base"}}}, items)
}
