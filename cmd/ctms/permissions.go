package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ctms-go/ctms/internal/store"
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
		perms, err := env.st.Permissions(ctx)
		if err != nil {
			return err
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
		err := env.st.CreatePermission(ctx, c.PermissionName, c.Description)
		if errors.Is(err, store.ErrConflict) {
			return exitWith(sio, 10, fmt.Sprintf("Permission '%s' already exists.", c.PermissionName))
		} else if err != nil {
			return err
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
		n := names{permission: c.PermissionName}
		_, roles, err := env.st.PermissionRoles(ctx, c.PermissionName)
		if err != nil {
			return notFound(sio, err, n)
		}
		if len(roles) > 0 {
			return permissionInUse(sio, &store.PermissionInUseError{Roles: roles}, c.PermissionName)
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete permission '%s'?", c.PermissionName)); !ok {
			return err
		}
		// The store checks again under the permission's lock.
		if err := env.st.DeletePermission(ctx, c.PermissionName); err != nil {
			return notFound(sio, permissionInUse(sio, err, c.PermissionName), n)
		}
		fmt.Fprintf(sio.Out, "✅ Successfully deleted permission '%s'.\n", c.PermissionName)
		return nil
	})
}

// permissionInUse ends the command with status 10 and the commands to run first
// when err is a store.PermissionInUseError; any other error is returned as is.
func permissionInUse(sio stdio, err error, name string) error {
	inUse, ok := errors.AsType[*store.PermissionInUseError](err)
	if !ok {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Cannot delete permission '%s' because it is assigned to roles.\n", name)
	b.WriteString("To proceed, revoke the permission from roles first:")
	for _, r := range inUse.Roles {
		fmt.Fprintf(&b, "\n  ctms-cli roles revoke %s %s", r, name)
	}
	return exitWith(sio, 10, b.String())
}
