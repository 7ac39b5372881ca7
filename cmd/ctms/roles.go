package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ctms-go/ctms/internal/store"
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
		roles, err := env.st.Roles(ctx)
		if err != nil {
			return err
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
		role, err := env.st.RoleDetail(ctx, c.RoleName)
		if err != nil {
			return notFound(sio, err, names{role: c.RoleName})
		}
		fmt.Fprintf(sio.Out, "Role: %s\n", role.Name)
		fmt.Fprintf(sio.Out, "Description: %s\n", describe(role.Description))
		if len(role.Permissions) == 0 {
			fmt.Fprintln(sio.Out, "No permissions assigned.")
		} else {
			fmt.Fprintln(sio.Out, "Permissions:")
			for _, p := range role.Permissions {
				fmt.Fprintf(sio.Out, "  - %s: %s\n", p.Name, describe(p.Description))
			}
		}
		if len(role.Clients) == 0 {
			fmt.Fprintln(sio.Out, "No API clients assigned to this role.")
		} else {
			fmt.Fprintln(sio.Out, "Assigned API Clients:")
			for _, id := range role.Clients {
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
		err := env.st.CreateRole(ctx, c.RoleName, c.Description)
		if errors.Is(err, store.ErrConflict) {
			return exitWith(sio, 10, fmt.Sprintf("Role '%s' already exists.", c.RoleName))
		} else if err != nil {
			return err
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
		granted, err := env.st.GrantRolePermission(ctx, c.RoleName, c.PermissionName)
		if err != nil {
			return notFound(sio, err, names{role: c.RoleName, permission: c.PermissionName})
		}
		if !granted {
			return exitWith(sio, 10, fmt.Sprintf("Role '%s' already has permission '%s'.", c.RoleName, c.PermissionName))
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
		n := names{role: c.RoleName, permission: c.PermissionName}
		role, err := env.st.Role(ctx, c.RoleName)
		if err != nil {
			return notFound(sio, err, n)
		}
		perm, err := env.st.Permission(ctx, c.PermissionName)
		if err != nil {
			return notFound(sio, err, n)
		}
		missing := fmt.Sprintf("Role '%s' does not have permission '%s'.", c.RoleName, c.PermissionName)
		has, err := env.st.RoleHasPermission(ctx, role.ID, perm.ID)
		if err != nil {
			return err
		}
		if !has {
			return exitWith(sio, 10, missing)
		}
		q := fmt.Sprintf("Are you sure you want to revoke permission '%s' from role '%s'?", c.PermissionName, c.RoleName)
		if ok, err := confirmUnless(sio, c.Yes, q); !ok {
			return err
		}
		revoked, err := env.st.RevokeRolePermission(ctx, role.ID, perm.ID)
		if err != nil {
			return err
		}
		if !revoked { // revoked concurrently
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
		role, err := env.st.RoleDetail(ctx, c.RoleName)
		if err != nil {
			return notFound(sio, err, names{role: c.RoleName})
		}
		if err := roleInUse(sio, role.InUse(), c.RoleName); err != nil {
			return err
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete role '%s'?", c.RoleName)); !ok {
			return err
		}
		// The store checks again under the role's lock.
		if err := env.st.DeleteRole(ctx, c.RoleName); err != nil {
			return notFound(sio, roleInUse(sio, err, c.RoleName), names{role: c.RoleName})
		}
		fmt.Fprintf(sio.Out, "✅ Successfully deleted role '%s'.\n", c.RoleName)
		return nil
	})
}

// roleInUse ends the command with status 10 and the commands to run first when
// err is a store.RoleInUseError; any other error is returned as is.
func roleInUse(sio stdio, err error, name string) error {
	inUse, ok := errors.AsType[*store.RoleInUseError](err)
	if !ok {
		return err
	}
	var b strings.Builder
	if len(inUse.Clients) > 0 {
		fmt.Fprintf(&b, "Cannot delete role '%s' because it is assigned to API clients.\n", name)
		b.WriteString("To proceed, remove the role from clients first:")
		for _, id := range inUse.Clients {
			fmt.Fprintf(&b, "\n  ctms-cli clients revoke %s %s", id, name)
		}
	} else {
		fmt.Fprintf(&b, "Cannot delete role '%s' because it has permissions assigned.\n", name)
		b.WriteString("To proceed, revoke these permissions first:")
		for _, p := range inUse.Permissions {
			fmt.Fprintf(&b, "\n  ctms-cli roles revoke %s %s", name, p)
		}
	}
	return exitWith(sio, 10, b.String())
}

// describe renders an optional description as ctms-cli does: NULL or empty
// prints "No description".
func describe(desc string) string {
	if desc == "" {
		return "No description"
	}
	return desc
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
