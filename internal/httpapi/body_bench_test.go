package httpapi

// Benchmarks of the JSON body path of POST and PATCH (decode, validate, map to
// the domain patch), without HTTP or a database:
//
//	go test ./internal/httpapi -run '^$' -bench 'BodyPath' -benchmem

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oapi-codegen/runtime"

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

// BenchmarkBodyPathPost is a POST body from its text to a validated contact.Patch.
func BenchmarkBodyPathPost(b *testing.B) {
	schema, rules := benchBodySchema(b, "POST", "/ctms"), benchRules()
	data := []byte(benchMappingPost)
	b.ReportAllocs()
	for b.Loop() {
		d, err := fastapi.DecodeBody(data)
		if err != nil {
			b.Fatal(err)
		}
		d.CoerceLaxBooleans(schema)
		if err := schema.VisitJSON(d.Value, openapi3.VisitAsRequest()); err != nil {
			b.Fatal(err)
		}
		var body api.ContactInSchema
		if err := runtime.BindJSONValue(d.ForBinder().ValidatedValue(), &body); err != nil {
			b.Fatal(err)
		}
		in := postInput(&body)
		if problems := in.Validate(rules); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

// BenchmarkBodyPathPatch is a PATCH body from its text to a validated contact.Patch.
func BenchmarkBodyPathPatch(b *testing.B) {
	schema, rules := benchBodySchema(b, "PATCH", "/ctms/{email_id}"), benchRules()
	data := []byte(benchMappingPatch)
	b.ReportAllocs()
	for b.Loop() {
		d, err := fastapi.DecodeBody(data)
		if err != nil {
			b.Fatal(err)
		}
		d.CoerceLaxBooleans(schema)
		if err := schema.VisitJSON(d.Value, openapi3.VisitAsRequest()); err != nil {
			b.Fatal(err)
		}
		var body api.ContactPatchSchema
		if err := runtime.BindJSONValue(d.ForBinder().ValidatedValue(), &body); err != nil {
			b.Fatal(err)
		}
		if _, err := patchFrom(&body, rules); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = contact.Set[int]
