package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
	ctmssql "github.com/ctms-go/ctms/sql"
)

// RBAC fixtures, on top of clientsBundle (clients_test.go).

func (b *clientsBundle) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	testdb.Exec(t, b.pool, query, args...)
}

// clearRBAC removes what migration 2 seeded, for tests that need empty tables.
func (b *clientsBundle) clearRBAC(t *testing.T) {
	t.Helper()
	b.exec(t, `DELETE FROM api_client_roles; DELETE FROM role_permissions; DELETE FROM roles; DELETE FROM permissions`)
}

func (b *clientsBundle) insertRole(t *testing.T, name string, desc *string) {
	t.Helper()
	b.exec(t, `INSERT INTO roles (name, description) VALUES ($1, $2)`, name, desc)
}

func (b *clientsBundle) insertPermission(t *testing.T, name string, desc *string) {
	t.Helper()
	b.exec(t, `INSERT INTO permissions (name, description) VALUES ($1, $2)`, name, desc)
}

// link adds a role_permissions row (even a duplicate: the schema allows it).
func (b *clientsBundle) link(t *testing.T, role, perm string) {
	t.Helper()
	b.exec(t, `INSERT INTO role_permissions (role_id, permission_id)
		SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = $1 AND p.name = $2`, role, perm)
}

func (b *clientsBundle) links(t *testing.T, role, perm string) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
		JOIN permissions p ON p.id = rp.permission_id WHERE r.name = $1 AND p.name = $2`, role, perm)
}

func (b *clientsBundle) assignments(t *testing.T, clientID, role string) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM api_client_roles acr JOIN roles r ON r.id = acr.role_id
		WHERE acr.api_client_id = $1 AND r.name = $2`, clientID, role)
}

func (b *clientsBundle) roleDescription(t *testing.T, name string) *string {
	t.Helper()
	var desc *string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT description FROM roles WHERE name = $1`, name).Scan(&desc))
	return desc
}

const adminShow = "Role: admin\nDescription: Every permission\nPermissions:\n" +
	"  - view_contacts: Read contacts and identities\n" +
	"  - manage_contacts: Create and update contacts\n" +
	"  - delete_contacts: Delete contacts\n" +
	"No API clients assigned to this role.\n"

// A fresh database is migrated, so migration 2 has seeded the admin role with
// the three permissions.
func TestRBACSeed(t *testing.T) {
	b := setupClients(t)

	require.Equal(t, cliResult{out: "- admin: Every permission\n"}, runCLI(t, "", "roles", "list"))
	require.Equal(t, cliResult{out: adminShow}, runCLI(t, "", "roles", "show", "admin"))
	require.Equal(t, cliResult{out: "Available Permissions:\n" +
		"- delete_contacts: Delete contacts\n" +
		"- manage_contacts: Create and update contacts\n" +
		"- view_contacts: Read contacts and identities\n"}, runCLI(t, "", "permissions", "list"))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM role_permissions`))

	t.Run("UpIsIdempotent", func(t *testing.T) {
		src, err := ctmssql.Migrations.ReadFile("migrations/00002_rbac_seed.sql")
		require.NoError(t, err)
		_, up, ok := strings.Cut(string(src), "-- +goose Up")
		require.True(t, ok)
		up, _, ok = strings.Cut(up, "-- +goose Down")
		require.True(t, ok)

		// Existing rows are kept as they are; only missing links are added.
		b.exec(t, `UPDATE roles SET description = 'Mine' WHERE name = 'admin'`)
		b.exec(t, `DELETE FROM role_permissions rp USING permissions p
			WHERE p.id = rp.permission_id AND p.name = 'delete_contacts'`)
		b.exec(t, up)
		b.exec(t, up)
		require.Equal(t, new("Mine"), b.roleDescription(t, "admin"))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM roles`))
		require.Equal(t, 3, b.count(t, `SELECT count(*) FROM permissions`))
		for _, p := range []string{"view_contacts", "manage_contacts", "delete_contacts"} {
			require.Equal(t, 1, b.links(t, "admin", p), p)
		}

		// On an empty database it seeds everything.
		b.clearRBAC(t)
		b.exec(t, up)
		require.Equal(t, cliResult{out: adminShow}, runCLI(t, "", "roles", "show", "admin"))
	})
}

func TestRolesList(t *testing.T) {
	b := setupClients(t)
	b.clearRBAC(t)
	require.Equal(t, cliResult{out: "No roles found.\n"}, runCLI(t, "", "roles", "list"))

	b.insertRole(t, "reader", new("Reads things"))
	b.insertRole(t, "empty", new(""))
	b.insertRole(t, "null", nil)
	require.Equal(t, cliResult{out: "- empty: No description\n- null: No description\n- reader: Reads things\n"},
		runCLI(t, "", "roles", "list"))
}

func TestRolesShow(t *testing.T) {
	b := setupClients(t)
	b.insertRole(t, "editor", new("Edits"))
	b.insertPermission(t, "edit", nil)
	b.insertPermission(t, "publish", new(""))
	b.link(t, "editor", "publish")
	b.link(t, "editor", "edit")
	b.link(t, "editor", "view_contacts")
	b.insertClient(t, fixtureClient{id: "id_b", email: "b@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(false)})
	b.grant(t, "id_b", "editor")
	b.grant(t, "id_a", "editor")
	b.insertRole(t, "bare", nil)

	for name, tc := range map[string]struct {
		role string
		want cliResult
	}{
		"PermissionsAndClients": {"editor", cliResult{out: "Role: editor\nDescription: Edits\nPermissions:\n" +
			"  - publish: No description\n  - edit: No description\n  - view_contacts: Read contacts and identities\n" +
			"Assigned API Clients:\n  - id_b\n  - id_a\n"}},
		"Nothing": {"bare", cliResult{out: "Role: bare\nDescription: No description\nNo permissions assigned.\n" +
			"No API clients assigned to this role.\n"}},
		"NotFound":        {"nope", cliResult{code: 4, out: "Role 'nope' not found.\n"}},
		"CaseSensitive":   {"Admin", cliResult{code: 4, out: "Role 'Admin' not found.\n"}},
		"SeededAdminRole": {"admin", cliResult{out: adminShow}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, "", "roles", "show", tc.role))
		})
	}
}

func TestRolesCreate(t *testing.T) {
	b := setupClients(t)

	require.Equal(t, cliResult{out: "✅ Created role 'editor' with description: 'Edits contacts'.\n"},
		runCLI(t, "", "roles", "create", "editor", "Edits contacts"))
	require.Equal(t, new("Edits contacts"), b.roleDescription(t, "editor"))

	require.Equal(t, cliResult{out: "✅ Created role 'plain' with description: ''.\n"},
		runCLI(t, "", "roles", "create", "plain"))
	require.Equal(t, new(""), b.roleDescription(t, "plain"), "stored as empty string, not NULL")

	require.Equal(t, cliResult{code: 10, out: "Role 'editor' already exists.\n"},
		runCLI(t, "", "roles", "create", "editor", "Other"))
	require.Equal(t, new("Edits contacts"), b.roleDescription(t, "editor"), "unchanged")
	require.Equal(t, cliResult{code: 10, out: "Role 'admin' already exists.\n"}, runCLI(t, "", "roles", "create", "admin"))

	long := strings.Repeat("r", 256)
	require.Equal(t, cliResult{code: 2, errOut: "Error: Invalid value for 'ROLE_NAME': Role name '" + long +
		"' is too long (at most 255 characters).\n"}, runCLI(t, "", "roles", "create", long))
	longest := strings.Repeat("é", 255)
	require.Equal(t, 0, runCLI(t, "", "roles", "create", longest).code, "255 characters fit")
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM roles`))
}

func TestRolesGrant(t *testing.T) {
	b := setupClients(t)
	b.insertRole(t, "editor", nil)
	b.insertPermission(t, "edit", nil)

	require.Equal(t, cliResult{out: "✅ Granted permission 'edit' to role 'editor'.\n"},
		runCLI(t, "", "roles", "grant", "editor", "edit"))
	require.Equal(t, 1, b.links(t, "editor", "edit"))

	require.Equal(t, cliResult{code: 10, out: "Role 'editor' already has permission 'edit'.\n"},
		runCLI(t, "", "roles", "grant", "editor", "edit"))
	require.Equal(t, 1, b.links(t, "editor", "edit"), "no duplicate link")
	require.Equal(t, cliResult{code: 10, out: "Role 'admin' already has permission 'view_contacts'.\n"},
		runCLI(t, "", "roles", "grant", "admin", "view_contacts"))

	require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "", "roles", "grant", "nope", "edit"))
	require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "", "roles", "grant", "nope", "nada"),
		"role checked first")
	require.Equal(t, cliResult{code: 4, out: "Permission 'nada' not found.\n"}, runCLI(t, "", "roles", "grant", "editor", "nada"))
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM role_permissions`))
}

func TestRolesRevoke(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to revoke permission 'edit' from role 'editor'? [y/N]: "
	b.insertRole(t, "editor", nil)
	b.insertPermission(t, "edit", nil)
	b.insertPermission(t, "other", nil)
	b.link(t, "editor", "edit")

	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"Empty": {"\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"No":    {"n\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF":   {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "roles", "revoke", "editor", "edit"))
			require.Equal(t, 1, b.links(t, "editor", "edit"))
		})
	}
	t.Run("Yes", func(t *testing.T) {
		require.Equal(t, cliResult{out: prompt + "✅ Revoked permission 'edit' from role 'editor'.\n"},
			runCLI(t, "y\n", "roles", "revoke", "editor", "edit"))
		require.Zero(t, b.links(t, "editor", "edit"))
	})
	for _, flag := range []string{"-y", "--yes"} {
		t.Run("Flag"+flag, func(t *testing.T) {
			b.link(t, "editor", "edit")
			b.link(t, "editor", "edit") // a duplicate link from older data goes too
			b.link(t, "editor", "other")
			require.Equal(t, cliResult{out: "✅ Revoked permission 'edit' from role 'editor'.\n"},
				runCLI(t, "", "roles", "revoke", flag, "editor", "edit"))
			require.Zero(t, b.links(t, "editor", "edit"))
			require.Equal(t, 1, b.links(t, "editor", "other"), "other links stay")
			b.exec(t, `DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'editor')`)
		})
	}
	t.Run("NotLinked", func(t *testing.T) {
		require.Equal(t, cliResult{code: 10, out: "Role 'editor' does not have permission 'edit'.\n"},
			runCLI(t, "y\n", "roles", "revoke", "editor", "edit"))
	})
	t.Run("NotFound", func(t *testing.T) {
		require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "y\n", "roles", "revoke", "nope", "edit"))
		require.Equal(t, cliResult{code: 4, out: "Permission 'nada' not found.\n"}, runCLI(t, "y\n", "roles", "revoke", "-y", "editor", "nada"))
	})
	require.Equal(t, 3, b.links(t, "admin", "view_contacts")+b.links(t, "admin", "manage_contacts")+b.links(t, "admin", "delete_contacts"))
}

func TestRolesDelete(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to delete role 'editor'? [y/N]: "
	b.insertRole(t, "editor", nil)
	b.insertPermission(t, "edit", nil)
	b.link(t, "editor", "edit")
	b.link(t, "editor", "view_contacts")
	b.insertClient(t, fixtureClient{id: "id_b", email: "b@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(true)})
	b.grant(t, "id_b", "editor")
	b.grant(t, "id_a", "editor")

	require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "y\n", "roles", "delete", "nope"))

	blockedByClients := cliResult{code: 10, out: "Cannot delete role 'editor' because it is assigned to API clients.\n" +
		"To proceed, remove the role from clients first:\n" +
		"  ctms-cli clients revoke id_b editor\n" +
		"  ctms-cli clients revoke id_a editor\n"}
	require.Equal(t, blockedByClients, runCLI(t, "y\n", "roles", "delete", "editor"))
	require.Equal(t, blockedByClients, runCLI(t, "", "roles", "delete", "-y", "editor"))

	b.exec(t, `DELETE FROM api_client_roles`)
	blockedByPermissions := cliResult{code: 10, out: "Cannot delete role 'editor' because it has permissions assigned.\n" +
		"To proceed, revoke these permissions first:\n" +
		"  ctms-cli roles revoke editor edit\n" +
		"  ctms-cli roles revoke editor view_contacts\n"}
	require.Equal(t, blockedByPermissions, runCLI(t, "y\n", "roles", "delete", "editor"))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM roles WHERE name = 'editor'`))

	b.exec(t, `DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'editor')`)
	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"No":  {"no\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF": {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "roles", "delete", "editor"))
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM roles WHERE name = 'editor'`))
		})
	}
	t.Run("Yes", func(t *testing.T) {
		require.Equal(t, cliResult{out: prompt + "✅ Successfully deleted role 'editor'.\n"}, runCLI(t, "y\n", "roles", "delete", "editor"))
		require.Zero(t, b.count(t, `SELECT count(*) FROM roles WHERE name = 'editor'`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM permissions WHERE name = 'edit'`), "permissions stay")
	})
	for _, flag := range []string{"-y", "--yes"} {
		t.Run("Flag"+flag, func(t *testing.T) {
			b.insertRole(t, "temp", nil)
			require.Equal(t, cliResult{out: "✅ Successfully deleted role 'temp'.\n"}, runCLI(t, "", "roles", "delete", "temp", flag))
			require.Zero(t, b.count(t, `SELECT count(*) FROM roles WHERE name = 'temp'`))
		})
	}
}

func TestClientsGrant(t *testing.T) {
	b := setupClients(t)
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(true)})
	b.insertRole(t, "reader", nil)

	require.Equal(t, cliResult{out: "✅ Granted role 'admin' to API client 'id_a'.\n"}, runCLI(t, "", "clients", "grant", "id_a", "admin"))
	require.Equal(t, cliResult{out: "✅ Granted role 'reader' to API client 'id_a'.\n"}, runCLI(t, "", "clients", "grant", "id_a", "reader"))
	require.Equal(t, 1, b.assignments(t, "id_a", "admin"))

	require.Equal(t, cliResult{out: "API client 'id_a' already has role 'admin'.\n"}, runCLI(t, "", "clients", "grant", "id_a", "admin"),
		"exit 0 when already held")
	require.Equal(t, 1, b.assignments(t, "id_a", "admin"), "no duplicate assignment")

	require.Equal(t, cliResult{out: "API Client: id_a\nEmail: a@example.com\nEnabled: Yes\nLast Access: Never\n" +
		"Assigned Roles:\n  - admin\n  - reader\n"}, runCLI(t, "", "clients", "show", "id_a"))
	require.Equal(t, cliResult{out: "Role: reader\nDescription: No description\nNo permissions assigned.\n" +
		"Assigned API Clients:\n  - id_a\n"}, runCLI(t, "", "roles", "show", "reader"))

	require.Equal(t, cliResult{code: 4, out: "API client 'id_nope' not found.\n"}, runCLI(t, "", "clients", "grant", "id_nope", "nope"),
		"client checked first")
	require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "", "clients", "grant", "id_a", "nope"))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM api_client_roles`))
}

func TestClientsRevoke(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to revoke role 'admin' from API client 'id_a'? [y/N]: "
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_b", email: "b@example.com", enabled: new(true)})
	b.grant(t, "id_a", "admin")
	b.grant(t, "id_b", "admin")

	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"No":  {"n\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF": {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "clients", "revoke", "id_a", "admin"))
			require.Equal(t, 1, b.assignments(t, "id_a", "admin"))
		})
	}
	t.Run("Yes", func(t *testing.T) {
		require.Equal(t, cliResult{out: prompt + "✅ Revoked role 'admin' from API client 'id_a'.\n"},
			runCLI(t, "yes\n", "clients", "revoke", "id_a", "admin"))
		require.Zero(t, b.assignments(t, "id_a", "admin"))
		require.Equal(t, 1, b.assignments(t, "id_b", "admin"), "other clients keep it")
	})
	for _, flag := range []string{"-y", "--yes"} {
		t.Run("Flag"+flag, func(t *testing.T) {
			b.grant(t, "id_a", "admin")
			b.grant(t, "id_a", "admin") // a duplicate assignment from older data goes too
			require.Equal(t, cliResult{out: "✅ Revoked role 'admin' from API client 'id_a'.\n"},
				runCLI(t, "", "clients", "revoke", flag, "id_a", "admin"))
			require.Zero(t, b.assignments(t, "id_a", "admin"))
		})
	}
	t.Run("NotAssigned", func(t *testing.T) {
		require.Equal(t, cliResult{code: 10, out: "API client 'id_a' does not have role 'admin'.\n"},
			runCLI(t, "y\n", "clients", "revoke", "id_a", "admin"))
	})
	t.Run("NotFound", func(t *testing.T) {
		require.Equal(t, cliResult{code: 4, out: "API client 'id_nope' not found.\n"}, runCLI(t, "y\n", "clients", "revoke", "id_nope", "nope"))
		require.Equal(t, cliResult{code: 4, out: "Role 'nope' not found.\n"}, runCLI(t, "y\n", "clients", "revoke", "-y", "id_a", "nope"))
	})
}

func TestRBACUsageErrors(t *testing.T) {
	b := setupClients(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"RolesShow":             {[]string{"roles", "show"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"RolesCreate":           {[]string{"roles", "create"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"RolesGrantRole":        {[]string{"roles", "grant"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"RolesGrantPermission":  {[]string{"roles", "grant", "admin"}, "Error: Missing argument 'PERMISSION_NAME'.\n"},
		"RolesRevokeRole":       {[]string{"roles", "revoke", "-y"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"RolesRevokePermission": {[]string{"roles", "revoke", "admin"}, "Error: Missing argument 'PERMISSION_NAME'.\n"},
		"RolesDelete":           {[]string{"roles", "delete", "--yes"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"RolesCreateExtra":      {[]string{"roles", "create", "a", "b", "c"}, "Error: Got unexpected extra argument (c)\n"},
		"RolesNoSuchCommand":    {[]string{"roles", "frobnicate"}, "Error: No such command 'frobnicate'.\n"},
		"PermissionsCreate":     {[]string{"permissions", "create"}, "Error: Missing argument 'PERMISSION_NAME'.\n"},
		"PermissionsDelete":     {[]string{"permissions", "delete", "-y"}, "Error: Missing argument 'PERMISSION_NAME'.\n"},
		"ClientsGrantClient":    {[]string{"clients", "grant"}, "Error: Missing argument 'CLIENT_ID'.\n"},
		"ClientsGrantRole":      {[]string{"clients", "grant", "id_a"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"ClientsRevokeRole":     {[]string{"clients", "revoke", "id_a"}, "Error: Missing argument 'ROLE_NAME'.\n"},
		"ClientsGrantInvalidID": {[]string{"clients", "grant", "client", "admin"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'client' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"ClientsRevokeInvalidID": {[]string{"clients", "revoke", "-y", "client", "admin"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'client' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
	} {
		t.Run(name, func(t *testing.T) {
			res := runCLI(t, "y\n", tc.args...)
			require.Equal(t, 2, res.code)
			require.Empty(t, res.out)
			group := tc.args[0]
			require.True(t, strings.HasPrefix(res.errOut, "Usage: ctms "+group+" "), res.errOut)
			require.Contains(t, res.errOut, "\nTry 'ctms "+group+" ")
			require.True(t, strings.HasSuffix(res.errOut, "\n\n"+tc.want), res.errOut)
		})
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM roles`))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM permissions`))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM role_permissions`))
}
