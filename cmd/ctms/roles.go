package main

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/gen/db"
)

// rolesCmd is `ctms roles …`, the `ctms-cli roles` group of the Python CTMS:
// same arguments, texts and exit codes (4 not found, 10 conflict or blocked).
type rolesCmd struct {
	List   rolesListCmd   `cmd:"" help:"List all available roles."`
	Show   rolesShowCmd   `cmd:"" help:"Show details of a specific role, including assigned permissions and API clients."`
	Create rolesCreateCmd `cmd:"" help:"Create a new role."`
	Grant  rolesGrantCmd  `cmd:"" help:"Grant a permission to a role."`
	Revoke rolesRevokeCmd `cmd:"" help:"Revoke a permission from a role."`
	Delete rolesDeleteCmd `cmd:"" help:"Delete a role, but only if no API clients or permissions are using it."`
}

type rolesListCmd struct{}

func (c *rolesListCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		roles, err := env.q.RoleList(ctx, env.conn)
		if err != nil {
			return fmt.Errorf("list roles: %w", err)
		}
		if len(roles) == 0 {
			fmt.Fprintln(sio.Out, "No roles found.")
			return nil
		}
		for _, r := range roles {
			fmt.Fprintf(sio.Out, "- %s: %s\n", r.Name, describe(r.Description))
		}
		return nil
	})
}

type rolesShowCmd struct {
	RoleName string `arg:"" help:"Role name."`
}

func (c *rolesShowCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		role, err := getRole(ctx, env, env.conn, c.RoleName)
		if err != nil {
			return err
		}
		perms, err := env.q.RolePermissions(ctx, env.conn, role.ID)
		if err != nil {
			return fmt.Errorf("list permissions of role: %w", err)
		}
		clients, err := env.q.RoleClients(ctx, env.conn, role.ID)
		if err != nil {
			return fmt.Errorf("list API clients of role: %w", err)
		}
		fmt.Fprintf(sio.Out, "Role: %s\n", role.Name)
		fmt.Fprintf(sio.Out, "Description: %s\n", describe(role.Description))
		if len(perms) == 0 {
			fmt.Fprintln(sio.Out, "No permissions assigned.")
		} else {
			fmt.Fprintln(sio.Out, "Permissions:")
			for _, p := range perms {
				fmt.Fprintf(sio.Out, "  - %s: %s\n", p.Name, describe(p.Description))
			}
		}
		if len(clients) == 0 {
			fmt.Fprintln(sio.Out, "No API clients assigned to this role.")
		} else {
			fmt.Fprintln(sio.Out, "Assigned API Clients:")
			for _, id := range clients {
				fmt.Fprintf(sio.Out, "  - %s\n", id)
			}
		}
		return nil
	})
}

type rolesCreateCmd struct {
	RoleName    string `arg:"" help:"Role name."`
	Description string `arg:"" optional:"" help:"Description of the role."`
}

func (c *rolesCreateCmd) Run(sio stdio) error {
	if err := checkNameLength(sio, "ROLE_NAME", "Role", c.RoleName); err != nil {
		return err
	}
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		exists := fmt.Sprintf("Role '%s' already exists.", c.RoleName)
		if _, err := env.q.RoleGet(ctx, env.conn, c.RoleName); err == nil {
			return exitWith(sio, 10, exists)
		} else if !isNotFound(err) {
			return fmt.Errorf("get role: %w", err)
		}
		_, err := env.q.RoleCreate(ctx, env.conn, db.RoleCreateParams{Name: c.RoleName, Description: &c.Description})
		if isNotFound(err) { // created concurrently
			return exitWith(sio, 10, exists)
		} else if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		fmt.Fprintf(sio.Out, "✅ Created role '%s' with description: '%s'.\n", c.RoleName, c.Description)
		return nil
	})
}

type rolesGrantCmd struct {
	RoleName       string `arg:"" help:"Role name."`
	PermissionName string `arg:"" help:"Permission name."`
}

func (c *rolesGrantCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		// Locking the role, then the permission, serialises concurrent grants
		// (the link has no unique constraint) and deletions of either.
		err := pgx.BeginFunc(ctx, env.conn, func(tx pgx.Tx) error {
			role, err := getRoleForUpdate(ctx, env, tx, c.RoleName)
			if err != nil {
				return err
			}
			perm, err := getPermissionForUpdate(ctx, env, tx, c.PermissionName)
			if err != nil {
				return err
			}
			n, err := env.q.RolePermissionGrant(ctx, tx, db.RolePermissionGrantParams{RoleID: role.ID, PermissionID: perm.ID})
			if err != nil {
				return fmt.Errorf("grant permission: %w", err)
			}
			if n == 0 {
				return exitWith(sio, 10, fmt.Sprintf("Role '%s' already has permission '%s'.", c.RoleName, c.PermissionName))
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Granted permission '%s' to role '%s'.\n", c.PermissionName, c.RoleName)
		return nil
	})
}

type rolesRevokeCmd struct {
	RoleName       string `arg:"" help:"Role name."`
	PermissionName string `arg:"" help:"Permission name."`
	Yes            bool   `short:"y" help:"Skip confirmation prompt."`
}

func (c *rolesRevokeCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		role, err := getRole(ctx, env, env.conn, c.RoleName)
		if err != nil {
			return err
		}
		perm, err := getPermission(ctx, env, env.conn, c.PermissionName)
		if err != nil {
			return err
		}
		link := db.RolePermissionExistsParams{RoleID: role.ID, PermissionID: perm.ID}
		missing := fmt.Sprintf("Role '%s' does not have permission '%s'.", c.RoleName, c.PermissionName)
		has, err := env.q.RolePermissionExists(ctx, env.conn, link)
		if err != nil {
			return fmt.Errorf("check role permission: %w", err)
		}
		if !has {
			return exitWith(sio, 10, missing)
		}
		q := fmt.Sprintf("Are you sure you want to revoke permission '%s' from role '%s'?", c.PermissionName, c.RoleName)
		if ok, err := confirmUnless(sio, c.Yes, q); !ok {
			return err
		}
		n, err := env.q.RolePermissionRevoke(ctx, env.conn, db.RolePermissionRevokeParams(link))
		if err != nil {
			return fmt.Errorf("revoke permission: %w", err)
		}
		if n == 0 { // revoked concurrently
			return exitWith(sio, 10, missing)
		}
		fmt.Fprintf(sio.Out, "✅ Revoked permission '%s' from role '%s'.\n", c.PermissionName, c.RoleName)
		return nil
	})
}

type rolesDeleteCmd struct {
	RoleName string `arg:"" help:"Role name."`
	Yes      bool   `short:"y" help:"Skip confirmation prompt."`
}

func (c *rolesDeleteCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		role, err := getRole(ctx, env, env.conn, c.RoleName)
		if err != nil {
			return err
		}
		if err := checkRoleUnused(ctx, env, env.conn, role.ID, c.RoleName); err != nil {
			return err
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete role '%s'?", c.RoleName)); !ok {
			return err
		}
		// Check again under the role's lock, which grants also take: the
		// foreign keys would otherwise silently cascade to links made since.
		err = pgx.BeginFunc(ctx, env.conn, func(tx pgx.Tx) error {
			role, err := getRoleForUpdate(ctx, env, tx, c.RoleName)
			if err != nil {
				return err
			}
			if err := checkRoleUnused(ctx, env, tx, role.ID, c.RoleName); err != nil {
				return err
			}
			if _, err := env.q.RoleDelete(ctx, tx, role.ID); err != nil {
				return fmt.Errorf("delete role: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Successfully deleted role '%s'.\n", c.RoleName)
		return nil
	})
}

// checkRoleUnused ends the command with status 10 and the commands to run
// first when the role is assigned to API clients or holds permissions.
func checkRoleUnused(ctx context.Context, env *cliEnv, conn db.DBTX, roleID int32, name string) error {
	clients, err := env.q.RoleClients(ctx, conn, roleID)
	if err != nil {
		return fmt.Errorf("list API clients of role: %w", err)
	}
	if len(clients) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "Cannot delete role '%s' because it is assigned to API clients.\n", name)
		b.WriteString("To proceed, remove the role from clients first:")
		for _, id := range clients {
			fmt.Fprintf(&b, "\n  ctms-cli clients revoke %s %s", id, name)
		}
		return exitWith(env.sio, 10, b.String())
	}
	perms, err := env.q.RolePermissions(ctx, conn, roleID)
	if err != nil {
		return fmt.Errorf("list permissions of role: %w", err)
	}
	if len(perms) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "Cannot delete role '%s' because it has permissions assigned.\n", name)
		b.WriteString("To proceed, revoke these permissions first:")
		for _, p := range perms {
			fmt.Fprintf(&b, "\n  ctms-cli roles revoke %s %s", name, p.Name)
		}
		return exitWith(env.sio, 10, b.String())
	}
	return nil
}

// getRole loads a role or ends the command with "Role '…' not found." (exit 4).
func getRole(ctx context.Context, env *cliEnv, conn db.DBTX, name string) (db.Role, error) {
	return lookup(env, "role", fmt.Sprintf("Role '%s' not found.", name), func() (db.Role, error) {
		return env.q.RoleGet(ctx, conn, name)
	})
}

// getRoleForUpdate is getRole that also locks the role row (inside a transaction).
func getRoleForUpdate(ctx context.Context, env *cliEnv, tx pgx.Tx, name string) (db.Role, error) {
	return lookup(env, "role", fmt.Sprintf("Role '%s' not found.", name), func() (db.Role, error) {
		return env.q.RoleGetForUpdate(ctx, tx, name)
	})
}

// lookup runs a :one query, turning "no row" into notFoundMsg with exit status 4.
func lookup[T any](env *cliEnv, what, notFoundMsg string, get func() (T, error)) (T, error) {
	v, err := get()
	if isNotFound(err) {
		return v, exitWith(env.sio, 4, notFoundMsg)
	}
	if err != nil {
		return v, fmt.Errorf("get %s: %w", what, err)
	}
	return v, nil
}

// describe renders an optional description as ctms-cli does: NULL or empty
// prints "No description".
func describe(desc *string) string {
	if desc == nil || *desc == "" {
		return "No description"
	}
	return *desc
}

// checkNameLength rejects names longer than the varchar(255) column as a
// usage error (the Python CLI fails with a database error instead).
func checkNameLength(sio stdio, param, what, name string) error {
	if utf8.RuneCountInString(name) <= 255 {
		return nil
	}
	fmt.Fprintf(sio.Err, "Error: Invalid value for '%s': %s name '%s' is too long (at most 255 characters).\n", param, what, name)
	return exitCode(2)
}
