package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/version"
)

// /openapi.json is the published spec, every operation with its operationId as written, not
// the copy oapi-codegen embeds (which lacks the hand-written routes).
func TestPublishedSpecJSON(t *testing.T) {
	_, data, err := loadSpec()
	require.NoError(t, err)
	var doc struct {
		Info  struct{ Title, Version string }
		Paths map[string]map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Equal(t, "ConTact Management System (CTMS)", doc.Info.Title)
	require.Equal(t, version.Current().Version, doc.Info.Version)

	ops := map[string]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			require.NoError(t, json.Unmarshal(raw, &op))
			ops[method+" "+path] = op.OperationID
		}
	}
	require.Equal(t, map[string]string{
		"post /token":                  "login",
		"get /ctms":                    "readCtmsByAnyId",
		"post /ctms":                   "createCtmsContact",
		"get /ctms/{email_id}":         "readCtmsByEmailId",
		"put /ctms/{email_id}":         "createOrUpdateCtmsContact",
		"patch /ctms/{email_id}":       "partialUpdateCtmsContact",
		"delete /ctms/{primary_email}": "deleteContactByPrimaryEmail",
		"get /updates":                 "readCtmsInBulkByUpdatedDate",
		"get /deletions":               "readDeletions",
		"get /identities":              "readIdentities",
		"get /identity/{email_id}":     "readIdentity",
		"get /__heartbeat__":           "heartbeat",
		"head /__heartbeat__":          "heartbeatHead",
		"get /__lbheartbeat__":         "lbheartbeat",
		"head /__lbheartbeat__":        "lbheartbeatHead",
		"get /__version__":             "version",
		"get /metrics":                 "metrics",
	}, ops)

	// Every operation the generated server routes is published.
	embedded, err := api.GetSwagger()
	require.NoError(t, err)
	for _, path := range embedded.Paths.InMatchingOrder() {
		require.Contains(t, doc.Paths, path)
	}
}
