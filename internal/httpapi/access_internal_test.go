package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/config"
)

// An operation that declares neither `x-ctms-public: true` nor x-ctms-permissions
// fails closed: the spec is refused at start-up, and a request to it is refused
// (403) whoever sends it and whatever CTMS_ENFORCE_PERMISSIONS says.
func TestAccessFailsClosed(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	require.NoError(t, checkAccessRules(spec), "the shipped spec declares the access of every operation")

	patch := spec.Paths.Value("/ctms/{email_id}").Patch
	delete(patch.Extensions, "x-ctms-permissions")
	metrics := spec.Paths.Value("/metrics").Get
	delete(metrics.Extensions, "x-ctms-public")
	err = checkAccessRules(spec)
	require.ErrorContains(t, err, "PATCH /ctms/{email_id} has neither")
	require.ErrorContains(t, err, "GET /metrics has neither")

	s := &server{cfg: &config.Config{EnforcePermissions: false}}
	ops := specOperations(spec)
	for _, op := range []*operation{ops["PATCH /ctms/{email_id}"], ops["GET /metrics"]} {
		err = s.authenticateCall(&call{r: httptest.NewRequest("GET", "/", nil), op: op})
		e, ok := err.(*Error)
		require.True(t, ok, "%v", err)
		require.Equal(t, http.StatusForbidden, e.Status)
	}

	spec, _, err = loadSpec()
	require.NoError(t, err)
	spec.Paths.Value("/__version__").Get.Extensions["x-ctms-permissions"] = []any{"view_contacts"}
	require.ErrorContains(t, checkAccessRules(spec), "GET /__version__ is both")
	spec.Paths.Value("/updates").Get.Security = &openapi3.SecurityRequirements{}
	require.ErrorContains(t, checkAccessRules(spec), "GET /updates has x-ctms-permissions but no OAuth2ClientCredentials")
}
