package httpapi

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	apispec "github.com/ctms-go/ctms/api"
	"github.com/ctms-go/ctms/internal/version"
)

// publishedSpecJSON is api/openapi.yaml as JSON, with the binary's version: what /openapi.json
// serves to the docs pages and to client generators. It has every operation, with the
// operationIds as written; the spec embedded by oapi-codegen (gen/api), which routes and
// validates requests, lacks the hand-written /token, Dockerflow and /metrics operations and
// capitalises operationIds.
func publishedSpecJSON() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	doc.Info.Version = version.Current().Version
	return doc.MarshalJSON()
}
