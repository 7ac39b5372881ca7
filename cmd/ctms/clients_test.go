package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/testdb"
)

// cliResult is what one in-process run of the binary produced.
type cliResult struct {
	code        int
	out, errOut string
}

func runCLI(t *testing.T, input string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, stdio{In: strings.NewReader(input), Out: &out, Err: &errOut})
	return cliResult{code: code, out: out.String(), errOut: errOut.String()}
}

type clientsBundle struct {
	pool *pgxpool.Pool
}

// setupClients gives the test its own migrated database and points the
// command's configuration at it. Not parallel: it sets environment variables.
func setupClients(t *testing.T) *clientsBundle {
	t.Helper()
	url := testdb.NewDatabase(t)
	t.Setenv("CTMS_DB_URL", url)
	t.Setenv("CTMS_SECRET_KEY", "test-secret-key")
	t.Setenv("CTMS_SERVER_PREFIX", "https://ctms.example.org")
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &clientsBundle{pool: pool}
}

type fixtureClient struct {
	id, email  string
	enabled    *bool
	secret     string
	lastAccess *time.Time
}

func (b *clientsBundle) insertClient(t *testing.T, c fixtureClient) {
	t.Helper()
	hash := "not-a-hash"
	if c.secret != "" {
		var err error
		hash, err = auth.HashSecret(c.secret)
		require.NoError(t, err)
	}
	testdb.Exec(t, b.pool, `INSERT INTO api_client (client_id, email, enabled, hashed_secret, last_access) VALUES ($1, $2, $3, $4, $5)`,
		c.id, c.email, c.enabled, hash, c.lastAccess)
}

func (b *clientsBundle) grant(t *testing.T, clientID, role string) {
	t.Helper()
	testdb.Grant(t, b.pool, clientID, role)
}

type storedClient struct {
	email   string
	enabled *bool
	hash    string
}

func (b *clientsBundle) client(t *testing.T, id string) *storedClient {
	t.Helper()
	var c storedClient
	err := b.pool.QueryRow(t.Context(), `SELECT email, enabled, hashed_secret FROM api_client WHERE client_id = $1`, id).
		Scan(&c.email, &c.enabled, &c.hash)
	if err != nil {
		require.ErrorContains(t, err, "no rows")
		return nil
	}
	return &c
}

func (b *clientsBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	return testdb.Count(t, b.pool, query, args...)
}

var secretInOutput = regexp.MustCompile(`(?m)^  - Client Secret: (secret_[A-Za-z0-9_-]{43})$`)

// credentialsBlock is the exact text ctms-cli prints after create and rotate-secret.
func credentialsBlock(id, secret string) string {
	return "\n** 🔑 Client Credentials -- Store Securely! 🔑 **\n" +
		"  - Client ID: " + id + "\n" +
		"  - Client Secret: " + secret + "\n" +
		"\n** Example: Obtain an OAuth Token **\n" +
		"Use the following curl command to get an access token:\n" +
		"\n  curl --user " + id + ":" + secret + " -F grant_type=client_credentials https://ctms.example.org/token\n\n"
}

func requireSecretVerifies(t *testing.T, secret, hash string, want bool) {
	t.Helper()
	ok, err := auth.VerifySecret(secret, hash)
	require.NoError(t, err)
	require.Equal(t, want, ok)
}

func TestClientsCreate(t *testing.T) {
	b := setupClients(t)

	res := runCLI(t, "", "clients", "create", "id_client1", "Client1@EXAMPLE.com")
	require.Equal(t, 0, res.code, res.errOut)
	require.Empty(t, res.errOut)
	m := secretInOutput.FindStringSubmatch(res.out)
	require.NotNil(t, m, res.out)
	secret := m[1]
	require.Equal(t, "✅ Created API client 'id_client1' with email: 'Client1@example.com'.\n"+
		credentialsBlock("id_client1", secret), res.out)

	stored := b.client(t, "id_client1")
	require.NotNil(t, stored)
	require.Equal(t, "Client1@example.com", stored.email, "domain normalised")
	require.Equal(t, new(true), stored.enabled)
	require.Regexp(t, `^\$argon2id\$v=19\$m=65536,t=3,p=4\$`, stored.hash)
	requireSecretVerifies(t, secret, stored.hash, true)

	t.Run("AlreadyExists", func(t *testing.T) {
		res := runCLI(t, "", "clients", "create", "id_client1", "other@example.com")
		require.Equal(t, 10, res.code)
		require.Equal(t, "API client 'id_client1' already exists.\n", res.out)
		require.Equal(t, "Client1@example.com", b.client(t, "id_client1").email)
	})

	t.Run("DisplayNameForm", func(t *testing.T) {
		res := runCLI(t, "", "clients", "create", "id_client2", "Jane Doe <jane@Example.org>")
		require.Equal(t, 0, res.code, res.errOut)
		require.Contains(t, res.out, "✅ Created API client 'id_client2' with email: 'jane@example.org'.\n")
	})
}

func TestClientsCreateUsageErrors(t *testing.T) {
	b := setupClients(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"InvalidID": {[]string{"clients", "create", "invalid_id", "client1@example.com"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'invalid_id' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"InvalidIDChars": {[]string{"clients", "create", "id_a/b", "client1@example.com"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'id_a/b' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"InvalidIDBeforeMissingEmail": {[]string{"clients", "create", "nope"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'nope' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"InvalidEmail": {[]string{"clients", "create", "id_client1", "invalid_email"},
			"Error: Invalid value for 'EMAIL': value is not a valid email address: An email address must have an @-sign.\n"},
		"EmailWithoutPeriod": {[]string{"clients", "create", "id_client1", "a@localhost"},
			"Error: Invalid value for 'EMAIL': value is not a valid email address: The part after the @-sign is not valid. It should have a period.\n"},
		"MissingClientID": {[]string{"clients", "create"}, "Error: Missing argument 'CLIENT_ID'.\n"},
		"MissingEmail":    {[]string{"clients", "create", "id_client1"}, "Error: Missing argument 'EMAIL'.\n"},
		"ShowMissing":     {[]string{"clients", "show"}, "Error: Missing argument 'CLIENT_ID'.\n"},
		"ShowInvalid": {[]string{"clients", "show", "x"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'x' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"DeleteInvalid": {[]string{"clients", "delete", "-y", "client"},
			"Error: Invalid value for 'CLIENT_ID': Client ID 'client' is invalid. It must start with 'id_' and should contain only alphanumeric characters, hyphens, underscores, or periods.\n"},
		"ExtraArgument": {[]string{"clients", "enable", "id_a", "id_b"}, "Error: Got unexpected extra argument (id_b)\n"},
		"NoSuchCommand": {[]string{"clients", "frobnicate"}, "Error: No such command 'frobnicate'.\n"},
		"NoSuchOption":  {[]string{"clients", "delete", "--force", "id_a"}, "Error: No such option: --force\n"},
	} {
		t.Run(name, func(t *testing.T) {
			res := runCLI(t, "", tc.args...)
			require.Equal(t, 2, res.code)
			require.Empty(t, res.out)
			require.True(t, strings.HasPrefix(res.errOut, "Usage: ctms clients "), res.errOut)
			require.Contains(t, res.errOut, "\nTry 'ctms clients ")
			require.True(t, strings.HasSuffix(res.errOut, "\n\n"+tc.want), res.errOut)
		})
	}
	require.Zero(t, b.count(t, `SELECT count(*) FROM api_client`))
}

func TestClientsList(t *testing.T) {
	b := setupClients(t)

	res := runCLI(t, "", "clients", "list")
	require.Equal(t, cliResult{out: "No API clients found.\n"}, res)

	access := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 2*3600))
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(true), lastAccess: &access})
	b.insertClient(t, fixtureClient{id: "id_b", email: "b@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_c", email: "c@example.com", enabled: new(false), lastAccess: &access})
	b.insertClient(t, fixtureClient{id: "id_d", email: "d@example.com"}) // enabled NULL

	res = runCLI(t, "", "clients", "list")
	require.Equal(t, cliResult{out: "API Clients:\n" +
		"- id_a (a@example.com) - Enabled | Last Access: 2024-05-06 05:08:09\n" +
		"- id_b (b@example.com) - Enabled | Last Access: Never\n" +
		"- id_c (c@example.com) - Disabled\n" +
		"- id_d (d@example.com) - Disabled\n"}, res)
}

func TestClientsShow(t *testing.T) {
	b := setupClients(t)
	access := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	whole := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	b.insertClient(t, fixtureClient{id: "id_roles", email: "r@example.com", enabled: new(true), lastAccess: &access})
	b.grant(t, "id_roles", "admin")
	b.grant(t, "id_roles", "reader")
	b.insertClient(t, fixtureClient{id: "id_plain", email: "p@example.com", enabled: new(false)})
	b.insertClient(t, fixtureClient{id: "id_whole", email: "w@example.com", lastAccess: &whole})

	for name, tc := range map[string]struct {
		id   string
		want cliResult
	}{
		"WithRoles": {"id_roles", cliResult{out: "API Client: id_roles\nEmail: r@example.com\nEnabled: Yes\n" +
			"Last Access: 2024-05-06 07:08:09.123456+00:00\nAssigned Roles:\n  - admin\n  - reader\n"}},
		"NoRoles": {"id_plain", cliResult{out: "API Client: id_plain\nEmail: p@example.com\nEnabled: No\n" +
			"Last Access: Never\nNo roles assigned.\n"}},
		"WholeSecondNullEnabled": {"id_whole", cliResult{out: "API Client: id_whole\nEmail: w@example.com\nEnabled: No\n" +
			"Last Access: 2024-05-06 07:08:09+00:00\nNo roles assigned.\n"}},
		"NotFound": {"id_missing", cliResult{code: 4, out: "API client 'id_missing' not found.\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, "", "clients", "show", tc.id))
		})
	}
}

func TestClientsEnable(t *testing.T) {
	b := setupClients(t)
	b.insertClient(t, fixtureClient{id: "id_off", email: "a@example.com", enabled: new(false)})
	b.insertClient(t, fixtureClient{id: "id_null", email: "b@example.com"})
	b.insertClient(t, fixtureClient{id: "id_on", email: "c@example.com", enabled: new(true)})

	require.Equal(t, cliResult{out: "✅ Enabled API client 'id_off'.\n"}, runCLI(t, "", "clients", "enable", "id_off"))
	require.Equal(t, new(true), b.client(t, "id_off").enabled)
	require.Equal(t, cliResult{out: "✅ Enabled API client 'id_null'.\n"}, runCLI(t, "", "clients", "enable", "id_null"))
	require.Equal(t, new(true), b.client(t, "id_null").enabled)
	require.Equal(t, cliResult{out: "API client 'id_on' is already enabled.\n"}, runCLI(t, "", "clients", "enable", "id_on"))
	require.Equal(t, cliResult{code: 4, out: "API client 'id_nope' not found.\n"}, runCLI(t, "", "clients", "enable", "id_nope"))
}

func TestClientsDisable(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to disable API client 'id_on'? This will prevent it from accessing the API. [y/N]: "
	b.insertClient(t, fixtureClient{id: "id_on", email: "a@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_null", email: "b@example.com"})

	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"EmptyAnswerIsNo": {"\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"No":              {"n\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"NoWord":          {" NO \n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF":             {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
		"InvalidThenEOF":  {"maybe\n", cliResult{code: 1, out: prompt + "Error: invalid input\n" + prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "clients", "disable", "id_on"))
			require.Equal(t, new(true), b.client(t, "id_on").enabled)
		})
	}

	t.Run("InvalidThenYes", func(t *testing.T) {
		res := runCLI(t, "sure\nYes\n", "clients", "disable", "id_on")
		require.Equal(t, cliResult{out: prompt + "Error: invalid input\n" + prompt + "✅ Disabled API client 'id_on'.\n"}, res)
		require.Equal(t, new(false), b.client(t, "id_on").enabled)
	})
	t.Run("AlreadyDisabled", func(t *testing.T) {
		require.Equal(t, cliResult{out: "API client 'id_on' is already disabled.\n"}, runCLI(t, "", "clients", "disable", "id_on"))
		require.Equal(t, cliResult{out: "API client 'id_null' is already disabled.\n"}, runCLI(t, "", "clients", "disable", "-y", "id_null"))
		require.Nil(t, b.client(t, "id_null").enabled, "untouched")
	})
	for _, flag := range []string{"--yes", "-y"} {
		t.Run("Flag"+flag, func(t *testing.T) {
			_, err := b.pool.Exec(t.Context(), `UPDATE api_client SET enabled = true WHERE client_id = 'id_on'`)
			require.NoError(t, err)
			require.Equal(t, cliResult{out: "✅ Disabled API client 'id_on'.\n"}, runCLI(t, "", "clients", "disable", "id_on", flag))
			require.Equal(t, new(false), b.client(t, "id_on").enabled)
		})
	}
	t.Run("Yes", func(t *testing.T) {
		_, err := b.pool.Exec(t.Context(), `UPDATE api_client SET enabled = true WHERE client_id = 'id_on'`)
		require.NoError(t, err)
		require.Equal(t, cliResult{out: prompt + "✅ Disabled API client 'id_on'.\n"}, runCLI(t, "y\n", "clients", "disable", "id_on"))
		require.Equal(t, new(false), b.client(t, "id_on").enabled)
	})
	t.Run("NotFound", func(t *testing.T) {
		require.Equal(t, cliResult{code: 4, out: "API client 'id_nope' not found.\n"}, runCLI(t, "y\n", "clients", "disable", "id_nope"))
	})
}

func TestClientsRotateSecret(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to rotate the secret for API client 'id_a'? This will invalidate the existing secret. [y/N]: "
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(false), secret: "secret_old"})
	before := b.client(t, "id_a").hash

	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"No":  {"n\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF": {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "clients", "rotate-secret", "id_a"))
			require.Equal(t, before, b.client(t, "id_a").hash)
		})
	}

	t.Run("YesOnDisabledClient", func(t *testing.T) {
		res := runCLI(t, "y\n", "clients", "rotate-secret", "id_a")
		require.Equal(t, 0, res.code, res.errOut)
		secret := secretInOutput.FindStringSubmatch(res.out)[1]
		require.Equal(t, prompt+"✅ Rotated secret for API client 'id_a'.\n"+credentialsBlock("id_a", secret), res.out)
		stored := b.client(t, "id_a")
		requireSecretVerifies(t, secret, stored.hash, true)
		requireSecretVerifies(t, "secret_old", stored.hash, false)
		require.Equal(t, new(false), stored.enabled, "still disabled")
	})
	t.Run("FlagYes", func(t *testing.T) {
		prev := b.client(t, "id_a").hash
		res := runCLI(t, "", "clients", "rotate-secret", "--yes", "id_a")
		require.Equal(t, 0, res.code, res.errOut)
		secret := secretInOutput.FindStringSubmatch(res.out)[1]
		require.Equal(t, "✅ Rotated secret for API client 'id_a'.\n"+credentialsBlock("id_a", secret), res.out)
		require.NotEqual(t, prev, b.client(t, "id_a").hash)
		requireSecretVerifies(t, secret, b.client(t, "id_a").hash, true)
	})
	t.Run("NotFound", func(t *testing.T) {
		require.Equal(t, cliResult{code: 4, out: "API client 'id_nope' not found.\n"}, runCLI(t, "y\n", "clients", "rotate-secret", "-y", "id_nope"))
	})
}

func TestClientsDelete(t *testing.T) {
	b := setupClients(t)
	const prompt = "Are you sure you want to delete API client 'id_a'? [y/N]: "
	b.insertClient(t, fixtureClient{id: "id_a", email: "a@example.com", enabled: new(true)})
	b.grant(t, "id_a", "admin")
	b.grant(t, "id_a", "reader")
	b.insertClient(t, fixtureClient{id: "id_keep", email: "k@example.com", enabled: new(true)})
	b.grant(t, "id_keep", "reader")

	for name, tc := range map[string]struct {
		input string
		want  cliResult
	}{
		"No":  {"no\n", cliResult{out: prompt + "Operation cancelled.\n"}},
		"EOF": {"", cliResult{code: 1, out: prompt, errOut: "Aborted!\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, runCLI(t, tc.input, "clients", "delete", "id_a"))
			require.NotNil(t, b.client(t, "id_a"))
		})
	}

	t.Run("YesRemovesRoleAssignments", func(t *testing.T) {
		require.Equal(t, cliResult{out: prompt + "✅ Deleted API client 'id_a'.\n"}, runCLI(t, "y\n", "clients", "delete", "id_a"))
		require.Nil(t, b.client(t, "id_a"))
		require.Zero(t, b.count(t, `SELECT count(*) FROM api_client_roles WHERE api_client_id = 'id_a'`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM api_client_roles WHERE api_client_id = 'id_keep'`))
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM roles`), "roles themselves stay")
	})
	t.Run("FlagYes", func(t *testing.T) {
		require.Equal(t, cliResult{out: "✅ Deleted API client 'id_keep'.\n"}, runCLI(t, "", "clients", "delete", "-y", "id_keep"))
		require.Nil(t, b.client(t, "id_keep"))
	})
	t.Run("NotFound", func(t *testing.T) {
		require.Equal(t, cliResult{code: 4, out: "API client 'id_a' not found.\n"}, runCLI(t, "y\n", "clients", "delete", "id_a"))
	})
}

// The queries the HTTP API uses but the CLI does not.
func TestAPIClientQueries(t *testing.T) {
	b := setupClients(t)
	q := db.New()
	old := time.Now().Add(-2 * time.Minute)
	recent := time.Now().Add(-10 * time.Second).Truncate(time.Microsecond)
	b.insertClient(t, fixtureClient{id: "id_never", email: "a@example.com", enabled: new(true)})
	b.insertClient(t, fixtureClient{id: "id_old", email: "b@example.com", enabled: new(true), lastAccess: &old})
	b.insertClient(t, fixtureClient{id: "id_recent", email: "c@example.com", enabled: new(false), lastAccess: &recent})
	b.insertClient(t, fixtureClient{id: "id_null", email: "d@example.com"})

	for id, touched := range map[string]int64{"id_never": 1, "id_old": 1, "id_recent": 0, "id_missing": 0} {
		n, err := q.APIClientTouchLastAccess(t.Context(), b.pool, id)
		require.NoError(t, err)
		require.Equal(t, touched, n, id)
	}
	c, err := q.APIClientGet(t.Context(), b.pool, "id_recent")
	require.NoError(t, err)
	require.True(t, c.LastAccess.Equal(recent), "not rewritten within a minute")
	c, err = q.APIClientGet(t.Context(), b.pool, "id_old")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), *c.LastAccess, 5*time.Second)
	require.True(t, c.UpdateTimestamp.Equal(*c.LastAccess))

	ids, err := q.APIClientListEnabledIDs(t.Context(), b.pool)
	require.NoError(t, err)
	require.Equal(t, []string{"id_never", "id_old"}, ids)

	roles, err := q.APIClientRoles(t.Context(), b.pool, "id_never")
	require.NoError(t, err)
	require.Equal(t, []string{}, roles)

	_, err = q.APIClientCreate(t.Context(), b.pool, db.APIClientCreateParams{ClientID: "id_old", Email: "x@example.com", HashedSecret: "h"})
	require.ErrorIs(t, err, pgx.ErrNoRows, "conflict returns no row")
}

func TestClientsNeedConfig(t *testing.T) {
	t.Setenv("CTMS_DB_URL", "postgresql://127.0.0.1:1/none")
	t.Setenv("CTMS_SECRET_KEY", "")
	res := runCLI(t, "", "clients", "list")
	require.Equal(t, 1, res.code)
	require.Empty(t, res.out)
	require.Equal(t, "Error: CTMS_SECRET_KEY is required\n", res.errOut)
}

func TestClientIDArg(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"id_a", "id_", "id_service.mozilla.com", "id_1-800-Contacts", "id_under_score.js"} {
		require.NoError(t, clientIDArg(ok).Validate(), ok)
	}
	for _, bad := range []string{"", "id", "ID_a", "a_id_", "id_a b", "id_Résumé", "id_💩.la", "id_test@example.com", "id_a/b"} {
		require.Error(t, clientIDArg(bad).Validate(), bad)
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"y\n": true, "Y\n": true, "yes\n": true, " yEs \r\n": true, "y": true,
		"n\n": false, "no\n": false, "\n": false, "   \n": false} {
		var out, errOut bytes.Buffer
		ok, err := confirm(stdio{In: strings.NewReader(in), Out: &out, Err: &errOut}, "Proceed?")
		require.NoError(t, err, "%q", in)
		require.Equal(t, want, ok, "%q", in)
		require.Equal(t, "Proceed? [y/N]: ", out.String())
		require.Empty(t, errOut.String())
	}
	var out, errOut bytes.Buffer
	_, err := confirm(stdio{In: nil, Out: &out, Err: &errOut}, "Proceed?")
	require.Equal(t, exitCode(1), err)
	require.Equal(t, "Aborted!\n", errOut.String())
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	res := runCLI(t, "", "clients", "list", "--help")
	require.Equal(t, 0, res.code)
	require.Contains(t, res.out, "Usage: ctms clients list")
	require.NotContains(t, res.out+res.errOut, "Error")
}
