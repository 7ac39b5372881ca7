package httpapi

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	apispec "github.com/ctms-go/ctms/api"
	"github.com/ctms-go/ctms/internal/version"
)

// loadSpec reads api/openapi.yaml as written, with the binary's version, and its JSON
// form that /openapi.json serves to the docs pages and client generators. This whole spec
// (not the copy oapi-codegen embeds in gen/api, which lacks the hand-written /token,
// Dockerflow and /metrics operations and capitalises operationIds) also drives request
// routing, validation, permissions and the metric series created at start-up.
func loadSpec() (*openapi3.T, []byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPIYAML)
	if err != nil {
		return nil, nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	doc.Info.Version = version.Current().Version
	specJSON, err := doc.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("encode spec: %w", err)
	}
	doc.Servers = nil // else the validator also matches the Host header
	return doc, specJSON, nil
}
