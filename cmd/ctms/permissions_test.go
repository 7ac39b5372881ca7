package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func (b *clientsBundle) permissionDescription(t *testing.T, name string) *string {
	t.Helper()
	var desc *string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT description FROM permissions WHERE name = $1`, name).Scan(&desc))
	return desc
}

func TestPermissionsList(t *testing.T) {
	b := setupClients(t)
	b.clearRBAC(t)
	require.Equal(t, cliResult{out: "No permissions found.\n"}, runCLI(t, "", "permissions", "list"))

	b.insertPermission(t, "view", new("Views things"))
	b.insertPermission(t, "empty", new(""))
	b.insertPermission(t, "null", nil)
	require.Equal(t, cliResult{out: "Available Permissions:\n- empty: No description\n- null: No description\n- view: Views things\n"},
		runCLI(t, "", "permissions", "list"))
}

func TestPermissionsCreate(t *testing.T) {
	b := setupClients(t)

	require.Equal(t, cliResult{out: "✅ Created permission 'export' with description: 'Export contacts'.\n"},
		runCLI(t, "", "permissions", "create", "export", "Export contacts"))
	require.Equal(t, new("Export contacts"), b.permissionDescription(t, "export"))

	require.Equal(t, cliResult{out: "✅ Created permission 'plain' with description: ''.\n"},
		runCLI(t, "", "permissions", "create", "plain"))
	require.Equal(t, new(""), b.permissionDescription(t, "plain"), "stored as empty string, not NULL")

	require.Equal(t, cliResult{code: 10, out: "Permission 'export' already exists.\n"},
		runCLI(t, "", "permissions", "create", "export", "Other"))
	require.Equal(t, new("Export contacts"), b.permissionDescription(t, "export"), "unchanged")
	require.Equal(t, cliResult{code: 10, out: "Permission 'view_contacts' already exists.\n"},
		runCLI(t, "", "permissions", "create", "view_contacts"))

	long := strings.Repeat("p", 256)
	require.Equal(t, cliResult{code: 2, errOut: "Error: Invalid value for 'PERMISSION_NAME': Permission name '" + long +
		"' is too long (at most 255 characters).\n"}, runCLI(t, "", "permissions", "create", long))
	require.Equal(t, 5, b.count(t, `SELECT count(*) FROM permissions`))
}

func TestPermissionsDelete(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to delete permission 'edit'? [y/N]: "
	b.insertPermission(t, "edit", nil)
	b.insertRole(t, "editor", nil)
	b.link(t, "editor", "edit")
	b.link(t, "admin", "edit")

	require.Equal(t, cliResult{code: 4, out: "Permission 'nope' not found.\n"}, runCLI(t, "y\n", "permissions", "delete", "nope"))

	blocked := cliResult{code: 10, out: "Cannot delete permission 'edit' because it is assigned to roles.\n" +
		"To proceed, revoke the permission from roles first:\n" +
		"  ctms-cli roles revoke editor edit\n" +
		"  ctms-cli roles revoke admin edit\n"}
	require.Equal(t, blocked, runCLI(t, "y\n", "permissions", "delete", "edit"))
	require.Equal(t, blocked, runCLI(t, "", "permissions", "delete", "--yes", "edit"))
	require.Equal(t, cliResult{code: 10, out: "Cannot delete permission 'view_contacts' because it is assigned to roles.\n" +
		"To proceed, revoke the permission from roles first:\n" +
		"  ctms-cli roles revoke admin view_contacts\n"}, runCLI(t, "", "permissions", "delete", "-y", "view_contacts"))

	b.exec(t, `DELETE FROM role_permissions WHERE permission_id = (SELECT id FROM permissions WHERE name = 'edit')`)
	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"Empty": {"\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"No":    {"N\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF":   {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "permissions", "delete", "edit"))
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM permissions WHERE name = 'edit'`))
		})
	}
	t.Run("Yes", func(t *testing.T) {
		require.Equal(t, cliResult{out: prompt + "✅ Successfully deleted permission 'edit'.\n"},
			runCLI(t, "y\n", "permissions", "delete", "edit"))
		require.Zero(t, b.count(t, `SELECT count(*) FROM permissions WHERE name = 'edit'`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM roles WHERE name = 'editor'`), "roles stay")
	})
	for _, flag := range []string{"-y", "--yes"} {
		t.Run("Flag"+flag, func(t *testing.T) {
			b.insertPermission(t, "temp", nil)
			require.Equal(t, cliResult{out: "✅ Successfully deleted permission 'temp'.\n"},
				runCLI(t, "", "permissions", "delete", flag, "temp"))
			require.Zero(t, b.count(t, `SELECT count(*) FROM permissions WHERE name = 'temp'`))
		})
	}
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM role_permissions`), "admin's seeded links untouched")
}
