package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

// adminStore is a store on one connection to a fresh database, as the CLI has it.
func adminStore(t *testing.T) *store.Store {
	t.Helper()
	st, closeDB, err := store.Connect(context.Background(), testdb.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(closeDB)
	return st
}

func TestConnectUnavailable(t *testing.T) {
	t.Parallel()
	_, _, err := store.Connect(context.Background(), "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.True(t, strings.HasPrefix(err.Error(), "connect to database: "), err.Error())
}

// The store says which thing is missing, and maps the outcomes that only races reach from
// the CLI (whose checks come first): a taken id on insert, a client deleted before a grant.
func TestAdminClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := adminStore(t)

	_, err := st.ClientAccount(ctx, "id_none")
	require.ErrorIs(t, err, store.ErrClientNotFound)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotErrorIs(t, err, store.ErrRoleNotFound)
	for _, err := range []error{
		st.SetClientEnabled(ctx, "id_none", false),
		st.SetClientSecret(ctx, "id_none", "hash"),
		st.DeleteClient(ctx, "id_none"),
	} {
		require.ErrorIs(t, err, store.ErrClientNotFound)
	}
	_, err = st.GrantClientRole(ctx, "id_none", "admin") // the foreign key refuses it
	require.ErrorIs(t, err, store.ErrClientNotFound)

	require.NoError(t, st.CreateClient(ctx, "id_a", "a@example.com", "hash"))
	require.ErrorIs(t, st.CreateClient(ctx, "id_a", "b@example.com", "hash"), store.ErrConflict)
	cl, err := st.ClientAccount(ctx, "id_a")
	require.NoError(t, err)
	require.Equal(t, store.ClientAccount{ClientID: "id_a", Email: "a@example.com", Enabled: true}, cl)

	_, err = st.GrantClientRole(ctx, "id_a", "no-such-role")
	require.ErrorIs(t, err, store.ErrRoleNotFound)
	granted, err := st.GrantClientRole(ctx, "id_a", "admin")
	require.NoError(t, err)
	require.True(t, granted)
	granted, err = st.GrantClientRole(ctx, "id_a", "admin")
	require.NoError(t, err)
	require.False(t, granted)
	roles, err := st.ClientRoles(ctx, "id_a")
	require.NoError(t, err)
	require.Equal(t, []string{"admin"}, roles)

	require.NoError(t, st.SetClientEnabled(ctx, "id_a", false))
	cl, err = st.ClientAccount(ctx, "id_a")
	require.NoError(t, err)
	require.False(t, cl.Enabled)
	require.NoError(t, st.DeleteClient(ctx, "id_a"))
	require.ErrorIs(t, st.DeleteClient(ctx, "id_a"), store.ErrClientNotFound)
}

func TestAdminRolesAndPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := adminStore(t)

	require.NoError(t, st.CreateRole(ctx, "editor", ""))
	require.ErrorIs(t, st.CreateRole(ctx, "editor", "again"), store.ErrConflict)
	require.NoError(t, st.CreatePermission(ctx, "edit", "may edit"))
	require.ErrorIs(t, st.CreatePermission(ctx, "edit", ""), store.ErrConflict)
	require.NoError(t, st.CreateClient(ctx, "id_e", "e@example.com", "hash"))

	_, err := st.GrantRolePermission(ctx, "editor", "no-such-permission")
	require.ErrorIs(t, err, store.ErrPermissionNotFound)
	_, err = st.GrantRolePermission(ctx, "no-such-role", "edit")
	require.ErrorIs(t, err, store.ErrRoleNotFound)
	granted, err := st.GrantRolePermission(ctx, "editor", "edit")
	require.NoError(t, err)
	require.True(t, granted)
	_, err = st.GrantClientRole(ctx, "id_e", "editor")
	require.NoError(t, err)

	// Deleting checks under the lock: clients first, then permissions.
	err = st.DeleteRole(ctx, "editor")
	require.ErrorIs(t, err, store.ErrConflict)
	inUse, ok := errors.AsType[*store.RoleInUseError](err)
	require.True(t, ok, err)
	require.Equal(t, &store.RoleInUseError{Clients: []string{"id_e"}}, inUse)
	err = st.DeletePermission(ctx, "edit")
	require.Equal(t, &store.PermissionInUseError{Roles: []string{"editor"}}, err)
	require.ErrorIs(t, err, store.ErrConflict)

	role, err := st.Role(ctx, "editor")
	require.NoError(t, err)
	revoked, err := st.RevokeClientRole(ctx, "id_e", role.ID)
	require.NoError(t, err)
	require.True(t, revoked)
	detail, err := st.RoleDetail(ctx, "editor")
	require.NoError(t, err)
	require.Equal(t, []store.Permission{{Name: "edit", Description: "may edit"}}, detail.Permissions)
	require.Equal(t, &store.RoleInUseError{Permissions: []string{"edit"}}, st.DeleteRole(ctx, "editor"))

	perm, err := st.Permission(ctx, "edit")
	require.NoError(t, err)
	revoked, err = st.RevokeRolePermission(ctx, role.ID, perm.ID)
	require.NoError(t, err)
	require.True(t, revoked)
	require.NoError(t, st.DeleteRole(ctx, "editor"))
	require.ErrorIs(t, st.DeleteRole(ctx, "editor"), store.ErrRoleNotFound)
	require.NoError(t, st.DeletePermission(ctx, "edit"))
	require.ErrorIs(t, st.DeletePermission(ctx, "edit"), store.ErrPermissionNotFound)
}
