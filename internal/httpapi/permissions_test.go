package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/obs"
)

func TestLogCheckerFindsPersonalData(t *testing.T) {
	t.Parallel()
	pad := string(make([]byte, 10_000))
	require.Equal(t, 0, checkLogsForPersonalData(pad+`{"path":"/ctms/{primary_email}"}`))
	require.Equal(t, 1, checkLogsForPersonalData(pad+`{"path":"/ctms/jane.doe@example.org"}`))
	require.Equal(t, 1, checkLogsForPersonalData(pad+`secret_0123456789abcdefghijklmnop`))
	require.Equal(t, 1, checkLogsForPersonalData(pad+`eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcGlfY2xpZW50In0.x`))
	require.Equal(t, 1, checkLogsForPersonalData("too short"))
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
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	open := *a
	open.srv = srv
	r := open.do("GET", "/ctms?primary_email=x@example.com", nil, withHeader("Authorization", "Bearer "+a.tokenFor(roleless)))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}
