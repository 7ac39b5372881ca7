// Package api holds the published OpenAPI spec of CTMS, api/openapi.yaml, embedded as
// written. The server serves it at /openapi.json (and so on /docs and /redoc): the copy
// oapi-codegen embeds in gen/api lacks the operations its exclude-tags leave to hand-written
// handlers (/token, Dockerflow, /metrics) and capitalises the operationIds.
package api

import _ "embed"

// OpenAPIYAML is api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
