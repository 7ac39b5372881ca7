package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/gen/db"
)

// permissionsCmd is `ctms permissions …`, the `ctms-cli permissions` group of
// the Python CTMS: same arguments, texts and exit codes.
type permissionsCmd struct {
	List   permissionsListCmd   `cmd:"" help:"List all available permissions."`
	Create permissionsCreateCmd `cmd:"" help:"Create a new permission."`
	Delete permissionsDeleteCmd `cmd:"" help:"Delete a permission, but only if no roles are using it."`
}

type permissionsListCmd struct{}

func (c *permissionsListCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		perms, err := env.q.PermissionList(ctx, env.conn)
		if err != nil {
			return fmt.Errorf("list permissions: %w", err)
		}
		if len(perms) == 0 {
			fmt.Fprintln(sio.Out, "No permissions found.")
			return nil
		}
		fmt.Fprintln(sio.Out, "Available Permissions:")
		for _, p := range perms {
			fmt.Fprintf(sio.Out, "- %s: %s\n", p.Name, describe(p.Description))
		}
		return nil
	})
}

type permissionsCreateCmd struct {
	PermissionName string `arg:"" help:"Permission name."`
	Description    string `arg:"" optional:"" help:"Description of the permission."`
}

func (c *permissionsCreateCmd) Run(sio stdio) error {
	if err := checkNameLength(sio, "PERMISSION_NAME", "Permission", c.PermissionName); err != nil {
		return err
	}
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		exists := fmt.Sprintf("Permission '%s' already exists.", c.PermissionName)
		if _, err := env.q.PermissionGet(ctx, env.conn, c.PermissionName); err == nil {
			return exitWith(sio, 10, exists)
		} else if !isNotFound(err) {
			return fmt.Errorf("get permission: %w", err)
		}
		_, err := env.q.PermissionCreate(ctx, env.conn, db.PermissionCreateParams{Name: c.PermissionName, Description: &c.Description})
		if isNotFound(err) { // created concurrently
			return exitWith(sio, 10, exists)
		} else if err != nil {
			return fmt.Errorf("create permission: %w", err)
		}
		fmt.Fprintf(sio.Out, "✅ Created permission '%s' with description: '%s'.\n", c.PermissionName, c.Description)
		return nil
	})
}

type permissionsDeleteCmd struct {
	PermissionName string `arg:"" help:"Permission name."`
	Yes            bool   `short:"y" help:"Skip confirmation prompt."`
}

func (c *permissionsDeleteCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		perm, err := getPermission(ctx, env, env.conn, c.PermissionName)
		if err != nil {
			return err
		}
		if err := checkPermissionUnused(ctx, env, env.conn, perm.ID, c.PermissionName); err != nil {
			return err
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete permission '%s'?", c.PermissionName)); !ok {
			return err
		}
		// Check again under the permission's lock, which grants also take.
		err = pgx.BeginFunc(ctx, env.conn, func(tx pgx.Tx) error {
			perm, err := getPermissionForUpdate(ctx, env, tx, c.PermissionName)
			if err != nil {
				return err
			}
			if err := checkPermissionUnused(ctx, env, tx, perm.ID, c.PermissionName); err != nil {
				return err
			}
			if _, err := env.q.PermissionDelete(ctx, tx, perm.ID); err != nil {
				return fmt.Errorf("delete permission: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Successfully deleted permission '%s'.\n", c.PermissionName)
		return nil
	})
}

// checkPermissionUnused ends the command with status 10 and the commands to
// run first when roles hold the permission.
func checkPermissionUnused(ctx context.Context, env *cliEnv, conn db.DBTX, permID int32, name string) error {
	roles, err := env.q.PermissionRoles(ctx, conn, permID)
	if err != nil {
		return fmt.Errorf("list roles of permission: %w", err)
	}
	if len(roles) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Cannot delete permission '%s' because it is assigned to roles.\n", name)
	b.WriteString("To proceed, revoke the permission from roles first:")
	for _, r := range roles {
		fmt.Fprintf(&b, "\n  ctms-cli roles revoke %s %s", r, name)
	}
	return exitWith(env.sio, 10, b.String())
}

// getPermission loads a permission or ends the command with
// "Permission '…' not found." (exit 4).
func getPermission(ctx context.Context, env *cliEnv, conn db.DBTX, name string) (db.Permission, error) {
	return lookup(env, "permission", fmt.Sprintf("Permission '%s' not found.", name), func() (db.Permission, error) {
		return env.q.PermissionGet(ctx, conn, name)
	})
}

// getPermissionForUpdate is getPermission that also locks the row (inside a
// transaction).
func getPermissionForUpdate(ctx context.Context, env *cliEnv, tx pgx.Tx, name string) (db.Permission, error) {
	return lookup(env, "permission", fmt.Sprintf("Permission '%s' not found.", name), func() (db.Permission, error) {
		return env.q.PermissionGetForUpdate(ctx, tx, name)
	})
}
