package httpapi

// Benchmarks of the JSON body path of POST and PATCH (decode, validate, map to
// the domain patch), without HTTP or a database. Before the body walker (decode,
// kin-openapi VisitJSON, binding into gen/api, mapping) they took 171 and 281
// allocations (docs in the commit that added the walker):
//
//	go test ./internal/httpapi -run '^$' -bench 'BodyPath' -benchmem

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
)

func benchBodySchema(b *testing.B, method, path string) *openapi3.Schema {
	b.Helper()
	spec, err := api.GetSwagger()
	if err != nil {
		b.Fatal(err)
	}
	op := spec.Paths.Value(path).GetOperation(method)
	return op.RequestBody.Value.Content.Get("application/json").Schema.Value
}

// benchChecks are the server's body checks with fixed waitlist field rules.
func benchChecks(rules contact.FieldRules) *fastapi.Checks {
	return &fastapi.Checks{URL: contact.NormaliseSource, After: map[string]func(context.Context, map[string]any) ([]ValidationItem, error){
		"check_fields": func(_ context.Context, item map[string]any) ([]ValidationItem, error) {
			fields, _ := item["fields"].(json.RawMessage)
			if fields == nil {
				return nil, nil
			}
			return fieldRuleItems(rules, item, fields), nil
		},
	}}
}

// benchBodyPath is what the validate stage does with a body: decode, check
// (fastapi.Model), map to the domain patch and apply the contact rules.
func benchBodyPath(b *testing.B, method, path, body string) {
	model, err := fastapi.NewModel(benchBodySchema(b, method, path))
	if err != nil {
		b.Fatal(err)
	}
	checks, data, ctx := benchChecks(benchRules()), []byte(body), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := model.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		checked, items, err := model.Check(ctx, d, checks)
		if err != nil || len(items) > 0 {
			b.Fatal(err, items)
		}
		if problems := patchFromBody(checked).Validate(); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

// BenchmarkBodyPathPost is a POST body from its text to a validated contact.Patch.
func BenchmarkBodyPathPost(b *testing.B) {
	benchBodyPath(b, "POST", "/ctms", benchMappingPost)
}

// BenchmarkBodyPathPatch is a PATCH body from its text to a validated contact.Patch.
func BenchmarkBodyPathPatch(b *testing.B) {
	benchBodyPath(b, "PATCH", "/ctms/{email_id}", benchMappingPatch)
}
