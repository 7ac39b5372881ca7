package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	apispec "github.com/ctms-go/ctms/api"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
)

func TestLogCheckerFindsPersonalData(t *testing.T) {
	t.Parallel()
	pad := string(make([]byte, 10_000))
	require.Equal(t, 0, checkPersonalData(pad+`{"path":"/ctms/{primary_email}"}`, pad, true))
	require.Equal(t, 1, checkPersonalData(pad+`{"path":"/ctms/jane.doe@example.org"}`, pad, true))
	require.Equal(t, 1, checkPersonalData(pad+`secret_0123456789abcdefghijklmnop`, pad, true))
	require.Equal(t, 1, checkPersonalData(pad+`eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcGlfY2xpZW50In0.x`, pad, true))
	require.Equal(t, 1, checkPersonalData(pad, pad+`ctms_api_requests_total{client_id="jane.doe@example.org"} 1`, true))
	require.Equal(t, 1, checkPersonalData(pad, `client_id="secret_0123456789abcdefghijklmnop"`, false), "also after a -run")
	require.Equal(t, 1, checkPersonalData("too short", pad, true))
	require.Equal(t, 1, checkPersonalData(pad, "too short", true))
	require.Equal(t, 0, checkPersonalData("short", "short", false), "a -run may log little")
}

// Every contact operation needs the permission it declares in the spec; the
// role admin has them all.
func TestPermissionsEnforcedPerOperation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	email := body["email"].(obj)["primary_email"].(string)

	type call struct {
		method, path string
		body         any
		permission   string
	}
	calls := []call{
		{"GET", "/ctms?primary_email=x@example.com", nil, "view_contacts"},
		{"GET", "/ctms/" + id, nil, "view_contacts"},
		{"GET", "/identities?primary_email=x@example.com", nil, "view_contacts"},
		{"GET", "/identity/" + id, nil, "view_contacts"},
		{"GET", "/updates?start=2020-01-01", nil, "view_contacts"},
		{"GET", "/deletions?start=2020-01-01", nil, "view_contacts"},
		{"POST", "/ctms", obj{"email": obj{"primary_email": newEmail()}}, "manage_contacts"},
		{"PUT", "/ctms/" + id, obj{"email": obj{"email_id": id, "primary_email": email}}, "manage_contacts"},
		{"PATCH", "/ctms/" + id, obj{}, "manage_contacts"},
		{"DELETE", "/ctms/nobody@example.com", nil, "delete_contacts"},
	}
	roleless, _ := a.createClient(true)
	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, roleless)
	viewer, _ := a.createClient(true)
	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, viewer)
	role := "viewer-" + id[:8]
	a.exec(`INSERT INTO roles (name, description) VALUES ($1, '')`, role)
	a.exec(`INSERT INTO role_permissions (role_id, permission_id)
		SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = $1 AND p.name = 'view_contacts'`, role)
	a.grant(viewer, role)

	for _, c := range calls {
		r := a.do(c.method, c.path, c.body, withHeader("Authorization", "Bearer "+a.tokenFor(roleless)))
		requireDetail(t, r, http.StatusForbidden, "Permission(s) required: "+c.permission)

		r = a.do(c.method, c.path, c.body, withHeader("Authorization", "Bearer "+a.tokenFor(viewer)))
		if c.permission == "view_contacts" {
			require.Less(t, r.Status, 300, "%s %s: %s", c.method, c.path, r.Body)
		} else {
			requireDetail(t, r, http.StatusForbidden, "Permission(s) required: "+c.permission)
		}

		r = a.do(c.method, c.path, c.body) // admin
		require.NotEqual(t, http.StatusForbidden, r.Status, "%s %s", c.method, c.path)
	}
}

// CTMS_ENFORCE_PERMISSIONS=false lets clients without roles in, as the Python CTMS does.
func TestPermissionsSwitchedOff(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	roleless, _ := a.createClient(true)
	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, roleless)
	cfg := *a.cfg
	cfg.EnforcePermissions = false
	h, err := httpapi.New(context.Background(), &cfg, a.pool, a.pool, httpapi.WithLogger(obs.NewLogger(&packageLogs, true, slog.LevelDebug)))
	require.NoError(t, err)
	open := *a
	open.srv = startServer(t, h)
	r := open.do("GET", "/ctms?primary_email=x@example.com", nil, withHeader("Authorization", "Bearer "+a.tokenFor(roleless)))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}

// Every operation of the spec declares its access, and the server enforces it:
// `x-ctms-public: true` ones answer without credentials; every other one has
// x-ctms-permissions, answers 401 without a token and 403 to a client without
// roles (access fails closed: internal/httpapi/access.go).
func TestEverySpecOperationDeclaresItsAccess(t *testing.T) {
	t.Parallel()
	spec, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPIYAML)
	require.NoError(t, err)
	a := newAPI(t)
	roleless, _ := a.createClient(true)
	a.exec(`DELETE FROM api_client_roles WHERE api_client_id = $1`, roleless)
	params := strings.NewReplacer("{email_id}", uuid.NewString(), "{primary_email}", "nobody@example.com")
	var public, protected int
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			isPublic, _ := op.Extensions["x-ctms-public"].(bool)
			perms, _ := op.Extensions["x-ctms-permissions"].([]any)
			var body any
			if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
				body = obj{}
			}
			target := params.Replace(path)
			if isPublic {
				public++
				require.Empty(t, perms, "%s: public and with permissions", name)
				r := a.do(method, target, body, noAuth())
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, r.Status, "%s: %s", name, r.Body)
				continue
			}
			protected++
			require.NotEmpty(t, perms, "%s: neither `x-ctms-public: true` nor x-ctms-permissions", name)
			requireDetail(t, a.do(method, target, body, noAuth()), http.StatusUnauthorized, "Not authenticated")
			r := a.do(method, target, body, withHeader("Authorization", "Bearer "+a.tokenFor(roleless)))
			require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", name, r.Body)
		}
	}
	require.Positive(t, public)
	require.Positive(t, protected)
}
