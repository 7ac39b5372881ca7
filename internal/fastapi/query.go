package fastapi

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// NormaliseQuery reads the query of an operation with parameters params as
// Starlette and FastAPI read it for the Python CTMS, in one pass, changing q in
// place: invalid UTF-8 becomes U+FFFD; of repeated values of a single-valued
// parameter the last wins, as FastAPI reads one; lax booleans of boolean
// parameters become true/false; an empty value of an optional parameter
// declared with allowEmptyValue is absent (as for /updates' end, limit, after
// and mofo_relevant).
//
// A declared parameter holding a NUL character (PostgreSQL text cannot) is a
// problem; path holds the path parameters, checked alike.
func NormaliseQuery(q url.Values, path map[string]string, params openapi3.Parameters) (problems []ValidationItem) {
	for name, vs := range q {
		for i, s := range vs {
			if !utf8.ValidString(s) {
				q[name][i] = strings.ToValidUTF8(s, "\uFFFD")
			}
		}
	}
	for _, p := range params {
		v := p.Value
		switch v.In {
		case "path":
			if pv, ok := path[v.Name]; ok && strings.IndexByte(pv, 0) >= 0 {
				problems = append(problems, nulProblem(v, pv))
			}
			continue
		case "query":
		default:
			continue
		}
		values := q[v.Name]
		if len(values) == 0 {
			continue
		}
		for _, s := range values {
			if strings.IndexByte(s, 0) >= 0 {
				problems = append(problems, nulProblem(v, s))
				break
			}
		}
		var schema *openapi3.Schema
		if v.Schema != nil {
			schema = v.Schema.Value
		}
		if len(values) > 1 && (schema == nil || !schema.Type.Is("array")) {
			values = values[len(values)-1:]
			q[v.Name] = values
		}
		if schema != nil && schema.Type.Is("boolean") {
			for i, s := range values {
				if b, ok := LaxBool(s); ok && s != "true" && s != "false" {
					values[i] = map[bool]string{true: "true", false: "false"}[b]
				}
			}
		}
		if v.AllowEmptyValue && !v.Required && values[0] == "" {
			delete(q, v.Name)
		}
	}
	return problems
}

func nulProblem(p *openapi3.Parameter, input string) ValidationItem {
	return ValidationItem{Type: "value_error", Loc: []any{p.In, p.Name},
		Msg: "Value error, NUL character not allowed", Input: input,
		Ctx: map[string]any{"error": "NUL character not allowed"}}
}
