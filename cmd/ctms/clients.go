package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/store"
)

// clientsCmd is `ctms clients …`, the `ctms-cli clients` group of the Python
// CTMS: same arguments, texts and exit codes (4 not found, 10 conflict).
type clientsCmd struct {
	List         clientsListCmd         `cmd:"" help:"List all API clients, showing last accessed datetime for enabled clients."`
	Show         clientsShowCmd         `cmd:"" help:"Show details of an API client."`
	Grant        clientsGrantCmd        `cmd:"" help:"Grant a role to an API client."`
	Revoke       clientsRevokeCmd       `cmd:"" help:"Revoke a role from an API client."`
	Create       clientsCreateCmd       `cmd:"" help:"Create a new API client and output credentials."`
	Delete       clientsDeleteCmd       `cmd:"" help:"Delete an API client."`
	Enable       clientsEnableCmd       `cmd:"" help:"Enable an API client."`
	Disable      clientsDisableCmd      `cmd:"" help:"Disable an API client."`
	RotateSecret clientsRotateSecretCmd `cmd:"" name:"rotate-secret" help:"Rotate the secret for an existing API client and output new credentials."`
}

type clientsListCmd struct{}

func (c *clientsListCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		clients, err := env.st.ClientAccounts(ctx)
		if err != nil {
			return err
		}
		if len(clients) == 0 {
			fmt.Fprintln(sio.Out, "No API clients found.")
			return nil
		}
		fmt.Fprintln(sio.Out, "API Clients:")
		for _, cl := range clients {
			if !cl.Enabled {
				fmt.Fprintf(sio.Out, "- %s (%s) - Disabled\n", cl.ClientID, cl.Email)
				continue
			}
			last := "Never"
			if cl.LastAccess != nil {
				last = cl.LastAccess.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(sio.Out, "- %s (%s) - Enabled | Last Access: %s\n", cl.ClientID, cl.Email, last)
		}
		return nil
	})
}

type clientsShowCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
}

func (c *clientsShowCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		roles, err := env.st.ClientRoles(ctx, cl.ClientID)
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "API Client: %s\n", cl.ClientID)
		fmt.Fprintf(sio.Out, "Email: %s\n", cl.Email)
		fmt.Fprintf(sio.Out, "Enabled: %s\n", map[bool]string{true: "Yes", false: "No"}[cl.Enabled])
		fmt.Fprintf(sio.Out, "Last Access: %s\n", pyDatetime(cl.LastAccess))
		if len(roles) == 0 {
			fmt.Fprintln(sio.Out, "No roles assigned.")
			return nil
		}
		fmt.Fprintln(sio.Out, "Assigned Roles:")
		for _, r := range roles {
			fmt.Fprintf(sio.Out, "  - %s\n", r)
		}
		return nil
	})
}

type clientsGrantCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	RoleName string      `arg:"" help:"Role name."`
}

func (c *clientsGrantCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		granted, err := env.st.GrantClientRole(ctx, cl.ClientID, c.RoleName)
		if err != nil {
			return notFound(sio, err, names{client: cl.ClientID, role: c.RoleName})
		}
		if !granted {
			fmt.Fprintf(sio.Out, "API client '%s' already has role '%s'.\n", cl.ClientID, c.RoleName)
			return nil
		}
		fmt.Fprintf(sio.Out, "✅ Granted role '%s' to API client '%s'.\n", c.RoleName, cl.ClientID)
		return nil
	})
}

type clientsRevokeCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	RoleName string      `arg:"" help:"Role name."`
	Yes      bool        `short:"y" help:"Skip confirmation prompt."`
}

func (c *clientsRevokeCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		role, err := env.st.Role(ctx, c.RoleName)
		if err != nil {
			return notFound(sio, err, names{role: c.RoleName})
		}
		missing := fmt.Sprintf("API client '%s' does not have role '%s'.", cl.ClientID, c.RoleName)
		has, err := env.st.ClientHasRole(ctx, cl.ClientID, role.ID)
		if err != nil {
			return err
		}
		if !has {
			return exitWith(sio, 10, missing)
		}
		q := fmt.Sprintf("Are you sure you want to revoke role '%s' from API client '%s'?", c.RoleName, cl.ClientID)
		if ok, err := confirmUnless(sio, c.Yes, q); !ok {
			return err
		}
		revoked, err := env.st.RevokeClientRole(ctx, cl.ClientID, role.ID)
		if err != nil {
			return err
		}
		if !revoked { // revoked concurrently
			return exitWith(sio, 10, missing)
		}
		fmt.Fprintf(sio.Out, "✅ Revoked role '%s' from API client '%s'.\n", c.RoleName, cl.ClientID)
		return nil
	})
}

type clientsCreateCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	Email    emailArg    `arg:"" help:"Contact e-mail address of the client's owner."`
}

func (c *clientsCreateCmd) Run(sio stdio) error {
	id := string(c.ClientID)
	if len(id) > 255 { // api_client.client_id is varchar(255)
		fmt.Fprintf(sio.Err, "Error: Invalid value for 'CLIENT_ID': Client ID '%s' is too long (at most 255 characters).\n", id)
		return exitCode(2)
	}
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		exists := fmt.Sprintf("API client '%s' already exists.", id)
		// Checked first so that a taken id costs no secret hashing.
		if _, err := env.st.ClientAccount(ctx, id); err == nil {
			return exitWith(sio, 10, exists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		secret, hash, err := newSecret()
		if err != nil {
			return err
		}
		err = env.st.CreateClient(ctx, id, string(c.Email), hash)
		if errors.Is(err, store.ErrConflict) { // created concurrently
			return exitWith(sio, 10, exists)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Created API client '%s' with email: '%s'.\n", id, string(c.Email))
		printCredentials(env, id, secret)
		return nil
	})
}

type clientsDeleteCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	Yes      bool        `short:"y" help:"Skip confirmation prompt."`
}

func (c *clientsDeleteCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete API client '%s'?", cl.ClientID)); !ok {
			return err
		}
		if err := env.st.DeleteClient(ctx, cl.ClientID); err != nil {
			return notFound(sio, err, names{client: cl.ClientID})
		}
		fmt.Fprintf(sio.Out, "✅ Deleted API client '%s'.\n", cl.ClientID)
		return nil
	})
}

type clientsEnableCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
}

func (c *clientsEnableCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		if cl.Enabled {
			fmt.Fprintf(sio.Out, "API client '%s' is already enabled.\n", cl.ClientID)
			return nil
		}
		if err := env.st.SetClientEnabled(ctx, cl.ClientID, true); err != nil {
			return notFound(sio, err, names{client: cl.ClientID})
		}
		fmt.Fprintf(sio.Out, "✅ Enabled API client '%s'.\n", cl.ClientID)
		return nil
	})
}

type clientsDisableCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	Yes      bool        `short:"y" help:"Skip confirmation prompt."`
}

func (c *clientsDisableCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		if !cl.Enabled {
			fmt.Fprintf(sio.Out, "API client '%s' is already disabled.\n", cl.ClientID)
			return nil
		}
		q := fmt.Sprintf("Are you sure you want to disable API client '%s'? This will prevent it from accessing the API.", cl.ClientID)
		if ok, err := confirmUnless(sio, c.Yes, q); !ok {
			return err
		}
		if err := env.st.SetClientEnabled(ctx, cl.ClientID, false); err != nil {
			return notFound(sio, err, names{client: cl.ClientID})
		}
		fmt.Fprintf(sio.Out, "✅ Disabled API client '%s'.\n", cl.ClientID)
		return nil
	})
}

type clientsRotateSecretCmd struct {
	ClientID clientIDArg `arg:"" help:"Client ID (starts with id_)."`
	Yes      bool        `short:"y" help:"Skip confirmation prompt."`
}

func (c *clientsRotateSecretCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		cl, err := getClient(ctx, env, string(c.ClientID))
		if err != nil {
			return err
		}
		q := fmt.Sprintf("Are you sure you want to rotate the secret for API client '%s'? This will invalidate the existing secret.", cl.ClientID)
		if ok, err := confirmUnless(sio, c.Yes, q); !ok {
			return err
		}
		secret, hash, err := newSecret()
		if err != nil {
			return err
		}
		if err := env.st.SetClientSecret(ctx, cl.ClientID, hash); err != nil {
			return notFound(sio, err, names{client: cl.ClientID})
		}
		fmt.Fprintf(sio.Out, "✅ Rotated secret for API client '%s'.\n", cl.ClientID)
		printCredentials(env, cl.ClientID, secret)
		return nil
	})
}

// getClient loads a client or ends the command with "not found" (exit 4).
func getClient(ctx context.Context, env *cliEnv, id string) (store.ClientAccount, error) {
	cl, err := env.st.ClientAccount(ctx, id)
	if err != nil {
		return cl, notFound(env.sio, err, names{client: id})
	}
	return cl, nil
}

func newSecret() (secret, hash string, err error) {
	if secret, err = auth.NewSecret(); err != nil {
		return "", "", err
	}
	if hash, err = auth.HashSecret(secret); err != nil {
		return "", "", err
	}
	return secret, hash, nil
}

// printCredentials is ctms-cli's output_client_credentials.
func printCredentials(env *cliEnv, id, secret string) {
	out := env.sio.Out
	fmt.Fprintln(out, "\n** 🔑 Client Credentials -- Store Securely! 🔑 **")
	fmt.Fprintf(out, "  - Client ID: %s\n", id)
	fmt.Fprintf(out, "  - Client Secret: %s\n", secret)
	fmt.Fprintln(out, "\n** Example: Obtain an OAuth Token **")
	fmt.Fprintln(out, "Use the following curl command to get an access token:")
	fmt.Fprintf(out, "\n  curl --user %s:%s -F grant_type=client_credentials %s/token\n\n", id, secret, env.cfg.ServerPrefix)
}

// pyDatetime formats a timestamp as Python's str(datetime) does for an aware
// UTC value ("2024-01-02 03:04:05.123456+00:00", no fraction when it is
// zero), or "Never" for NULL.
func pyDatetime(t *time.Time) string {
	if t == nil {
		return "Never"
	}
	u := t.UTC()
	s := u.Format(time.DateTime)
	if us := u.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}
