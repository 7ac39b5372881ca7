package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/client"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/testdb"
)

const deleteBulkSecretKey = "delete-bulk-test-secret-key-long-enough-for-hs256"

// deleteBulkServer is a running API server on this package's test database,
// with an API client whose credentials the command gets from the environment.
type deleteBulkServer struct {
	url      string
	pool     *pgxpool.Pool
	api      *client.ClientWithResponses // authenticated, for creating fixtures
	clientID string
	secret   string
	suffix   string // makes this test's addresses unique in the shared database
}

func newDeleteBulkServer(t *testing.T) *deleteBulkServer {
	t.Helper()
	pool := testdb.Pool(t)
	cfg := &config.Config{
		SecretKey: deleteBulkSecretKey, TokenExpiration: time.Hour, ServerPrefix: "http://testserver",
		AppDir: t.TempDir(), DBPoolSize: 5, DBMaxOverflow: 10, EnforcePermissions: false,
	}
	h, err := httpapi.New(context.Background(), cfg, pool, pool, httpapi.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	s := &deleteBulkServer{url: srv.URL, pool: pool, suffix: strings.ReplaceAll(uuid.NewString(), "-", "")[:10]}
	s.secret, err = auth.NewSecret()
	require.NoError(t, err)
	hash, err := auth.HashSecret(s.secret)
	require.NoError(t, err)
	s.clientID = testdb.InsertClient(t, pool, true, hash)

	token, err := auth.MintToken(deleteBulkSecretKey, s.clientID, time.Hour, time.Now())
	require.NoError(t, err)
	s.api, err = client.NewClientWithResponses(srv.URL, client.WithRequestEditorFn(
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	require.NoError(t, err)

	t.Setenv("CTMS_API_URL", srv.URL)
	t.Setenv("CTMS_CLIENT_ID", s.clientID)
	t.Setenv("CTMS_CLIENT_SECRET", s.secret)
	// The command needs no database settings.
	t.Setenv("CTMS_DB_URL", "")
	t.Setenv("CTMS_SECRET_KEY", "")
	return s
}

// addr makes a test-unique address: addr("jane") is "jane-<suffix>@example.com".
func (s *deleteBulkServer) addr(local string) string {
	return local + "-" + s.suffix + "@example.com"
}

// createContact creates a contact through the API (with fxa and mofo groups when
// asked) and returns its email_id.
func (s *deleteBulkServer) createContact(t *testing.T, email string, fxaAndMofo bool) string {
	t.Helper()
	id := uuid.New()
	body := client.ContactInSchema{Email: client.EmailInSchema{PrimaryEmail: email, EmailId: &id}}
	if fxaAndMofo {
		fxaID, mofoID := "fxa-"+id.String()[:8], "mofo-"+id.String()[:8]
		body.Fxa = &client.FirefoxAccountsInSchema{FxaId: &fxaID}
		body.Mofo = &client.MozillaFoundationInSchema{MofoContactId: &mofoID}
	}
	res, err := s.api.CreateCtmsContactWithResponse(t.Context(), body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, res.StatusCode(), "body: %s", res.Body)
	return id.String()
}

// tombstones lists deleted_by of the contact's deletion tombstones.
func (s *deleteBulkServer) tombstones(t *testing.T, emailID string) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "SELECT deleted_by FROM deletion_tombstones WHERE email_id = $1", emailID)
	require.NoError(t, err)
	out := []string{}
	for rows.Next() {
		var by string
		require.NoError(t, rows.Scan(&by))
		out = append(out, by)
	}
	require.NoError(t, rows.Err())
	return out
}

// rows counts what is left of a contact in its tables.
func (s *deleteBulkServer) rows(t *testing.T, emailID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"emails", "fxa", "mofo"} {
		out[table] = testdb.Count(t, s.pool, "SELECT count(*) FROM "+table+" WHERE email_id = $1", emailID)
	}
	return out
}

var (
	contactGone = map[string]int{"emails": 0, "fxa": 0, "mofo": 0}
	contactFull = map[string]int{"emails": 1, "fxa": 1, "mofo": 1}
	contactBare = map[string]int{"emails": 1, "fxa": 0, "mofo": 0}
)

func writeEmailFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "emails.txt")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// barFrame is one drawing of the progress bar: "\r[=====>    ] 1/4".
func barFrame(bar string, done, total int) string {
	return fmt.Sprintf("\r[%-30s] %d/%d", bar, done, total)
}

// barClear blanks a drawn frame before a message.
func barClear(frame string) string {
	return "\r" + strings.Repeat(" ", len(frame)-1) + "\r"
}

func TestDeleteBulkEmailFound(t *testing.T) {
	s := newDeleteBulkServer(t)
	full := s.addr("full")
	fullID := s.createContact(t, full, true)
	bare := s.addr("bare")
	bareID := s.createContact(t, bare, false)

	r := runCLI(t, "", "delete-bulk", "--email", full)
	require.Equal(t, cliResult{code: 0, out: "DELETING " + full + " (ctms id: " + fullID + "). fxa: YES. mofo: YES.\n" +
		"TOMBSTONES " + full + ": " + fullID + ".\n"}, r)
	require.Equal(t, contactGone, s.rows(t, fullID))
	require.Equal(t, []string{s.clientID}, s.tombstones(t, fullID), "one tombstone, naming the command's API client")

	r = runCLI(t, "", "delete-bulk", "--email", bare)
	require.Equal(t, cliResult{code: 0, out: "DELETING " + bare + " (ctms id: " + bareID + ").\n" +
		"TOMBSTONES " + bare + ": " + bareID + ".\n"}, r)
	require.Equal(t, contactGone, s.rows(t, bareID))

	// Deleted: a second run finds nothing.
	r = runCLI(t, "", "delete-bulk", "--email", full)
	require.Equal(t, cliResult{code: 0, out: full + " not found in CTMS\n"}, r)
}

func TestDeleteBulkEmailNotFound(t *testing.T) {
	s := newDeleteBulkServer(t)
	other := s.createContact(t, s.addr("other"), false)
	missing := s.addr("missing")

	r := runCLI(t, "", "delete-bulk", "--email", missing)
	require.Equal(t, cliResult{code: 0, out: missing + " not found in CTMS\n"}, r)
	require.Equal(t, contactBare, s.rows(t, other))
}

// The target is path-escaped: "%41" must not reach the server as "A", nor "/"
// split the path.
func TestDeleteBulkPathEscaping(t *testing.T) {
	s := newDeleteBulkServer(t)
	pct := s.addr("tag+pct%41")
	pctID := s.createContact(t, pct, false)
	plainID := s.createContact(t, s.addr("tag+pctA"), false)
	slash := s.addr("a/b")

	r := runCLI(t, "", "delete-bulk", "--email", slash)
	require.Equal(t, cliResult{code: 0, out: slash + " not found in CTMS\n"}, r)

	r = runCLI(t, "", "delete-bulk", "--email", pct)
	require.Equal(t, cliResult{code: 0, out: "DELETING " + pct + " (ctms id: " + pctID + ").\n" +
		"TOMBSTONES " + pct + ": " + pctID + ".\n"}, r)
	require.Equal(t, contactGone, s.rows(t, pctID))
	require.Equal(t, contactBare, s.rows(t, plainID))
}

func TestDeleteBulkEmailFile(t *testing.T) {
	s := newDeleteBulkServer(t)
	mixedID := s.createContact(t, s.addr("mixed.case"), true)
	upperID := s.createContact(t, s.addr("UPPER"), false)
	lastID := s.createContact(t, s.addr("last"), false)
	keptID := s.createContact(t, s.addr("kept"), false)

	mixed := s.addr("Mixed.Case")                                     // stored lower-case
	upper := strings.ToLower(s.addr("UPPER"))                         // stored upper-case
	missing := s.addr("missing")                                      // no contact
	last := s.addr("last")                                            // last line, no newline
	email := strings.ToUpper(s.addr("kept")[:4]) + s.addr("kept")[4:] // --email comes after the file
	file := writeEmailFile(t, mixed+"  \t\n\n   \n"+upper+"\r\n"+missing+"\n\n"+last)

	r := runCLI(t, "", "delete-bulk", "--email-file", file, "--email", email)
	require.Equal(t, 0, r.code)
	require.Equal(t,
		"DELETING "+mixed+" (ctms id: "+mixedID+"). fxa: YES. mofo: YES.\n"+
			"TOMBSTONES "+mixed+": "+mixedID+".\n"+
			"DELETING "+upper+" (ctms id: "+upperID+").\n"+
			"TOMBSTONES "+upper+": "+upperID+".\n"+
			missing+" not found in CTMS\n"+
			"DELETING "+last+" (ctms id: "+lastID+").\n"+
			"TOMBSTONES "+last+": "+lastID+".\n"+
			"DELETING "+email+" (ctms id: "+keptID+").\n"+
			"TOMBSTONES "+email+": "+keptID+".\n",
		r.out)
	// The progress bar (5 targets: 4 non-blank lines, then --email), blanked
	// before each message on stdout.
	f0 := barFrame(">", 0, 5)
	f1 := barFrame("======>", 1, 5)
	f2 := barFrame("============>", 2, 5)
	f3 := barFrame("==================>", 3, 5)
	f4 := barFrame("========================>", 4, 5)
	f5 := barFrame("==============================", 5, 5)
	require.Equal(t,
		f0+barClear(f0)+f1+barClear(f1)+f2+barClear(f2)+f3+barClear(f3)+f4+barClear(f4)+f5+"\n",
		r.errOut)
	for _, id := range []string{mixedID, upperID, lastID, keptID} {
		require.Equal(t, contactGone, s.rows(t, id))
	}
}

func TestDeleteBulkEmailFileErrors(t *testing.T) {
	newDeleteBulkServer(t)

	// An empty file: nothing to do, no progress bar.
	r := runCLI(t, "", "delete-bulk", "--email-file", writeEmailFile(t, "\n \n"))
	require.Equal(t, cliResult{code: 0}, r)

	missingFile := filepath.Join(t.TempDir(), "nope.txt")
	r = runCLI(t, "", "delete-bulk", "--email-file", missingFile)
	require.Equal(t, 1, r.code)
	require.Equal(t, "", r.out)
	require.Equal(t, "Error: open "+missingFile+": no such file or directory\n", r.errOut)

	// Neither --email nor --email-file: a usage error.
	r = runCLI(t, "", "delete-bulk")
	require.Equal(t, cliResult{code: 2, errOut: "Usage: ctms delete-bulk [flags]\n" +
		"Try 'ctms delete-bulk --help' for help.\n\n" +
		"Error: Nothing to delete: give --email and/or --email-file.\n"}, r)
}

func TestDeleteBulkDryRun(t *testing.T) {
	s := newDeleteBulkServer(t)
	fullID := s.createContact(t, s.addr("full"), true)
	bareID := s.createContact(t, s.addr("bare"), false)
	full := s.addr("FULL")
	missing := s.addr("missing")
	bare := s.addr("bare")
	file := writeEmailFile(t, full+"\n\n"+missing+"\n")

	r := runCLI(t, "", "delete-bulk", "--dry-run", "--email-file", file, "--email", bare)
	require.Equal(t, 0, r.code)
	require.Equal(t,
		"WOULD DELETE "+full+" (ctms id: "+fullID+"). fxa: YES. mofo: YES.\n"+
			missing+" not found in CTMS\n"+
			"WOULD DELETE "+bare+" (ctms id: "+bareID+").\n",
		r.out)
	f0 := barFrame(">", 0, 3)
	f1 := barFrame("==========>", 1, 3)
	f2 := barFrame("====================>", 2, 3)
	f3 := barFrame("==============================", 3, 3)
	require.Equal(t, f0+barClear(f0)+f1+barClear(f1)+f2+barClear(f2)+f3+"\n", r.errOut)

	// Nothing was deleted.
	require.Equal(t, contactFull, s.rows(t, fullID))
	require.Equal(t, contactBare, s.rows(t, bareID))

	// Without a file: no progress bar.
	r = runCLI(t, "", "delete-bulk", "--dry-run", "--email", bare)
	require.Equal(t, cliResult{code: 0, out: "WOULD DELETE " + bare + " (ctms id: " + bareID + ").\n"}, r)
	require.Equal(t, contactBare, s.rows(t, bareID))
}

func TestDeleteBulkBadCredentials(t *testing.T) {
	s := newDeleteBulkServer(t)
	id := s.createContact(t, s.addr("kept"), true)
	t.Setenv("CTMS_CLIENT_SECRET", "secret_wrong")

	// The token is refused (400) and the command goes on without one: each
	// deletion then fails with 401, and the exit status is 1.
	r := runCLI(t, "", "delete-bulk", "--email", s.addr("kept"))
	require.Equal(t, cliResult{code: 1, errOut: "400: Bad Request\n401: Unauthorized\n"}, r)
	require.Equal(t, contactFull, s.rows(t, id))

	file := writeEmailFile(t, s.addr("kept")+"\n"+s.addr("other")+"\n")
	r = runCLI(t, "", "delete-bulk", "--email-file", file)
	require.Equal(t, 1, r.code)
	require.Equal(t, "", r.out)
	f0 := barFrame(">", 0, 2)
	f1 := barFrame("===============>", 1, 2)
	f2 := barFrame("==============================", 2, 2)
	require.Equal(t, "400: Bad Request\n"+
		f0+barClear(f0)+"401: Unauthorized\n"+f1+barClear(f1)+"401: Unauthorized\n"+f2+"\n", r.errOut)
	require.Equal(t, contactFull, s.rows(t, id))

	// An unknown client gets the same 400.
	t.Setenv("CTMS_CLIENT_ID", "id_nobody")
	r = runCLI(t, "", "delete-bulk", "--dry-run", "--email", s.addr("kept"))
	require.Equal(t, cliResult{code: 1, errOut: "400: Bad Request\n401: Unauthorized\n"}, r)
}

func TestDeleteBulkMissingEnv(t *testing.T) {
	for _, name := range []string{"CTMS_CLIENT_ID", "CTMS_CLIENT_SECRET"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CTMS_API_URL", "http://127.0.0.1:1")
			t.Setenv("CTMS_CLIENT_ID", "id_someone")
			t.Setenv("CTMS_CLIENT_SECRET", "secret_something")
			t.Setenv(name, "")
			r := runCLI(t, "", "delete-bulk", "--email", "someone@example.com")
			require.Equal(t, cliResult{code: 1, errOut: "Error: the environment variable " + name + " is required\n"}, r)
		})
	}
}

// An unreachable server ends the command at the token request.
func TestDeleteBulkUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	t.Setenv("CTMS_API_URL", url)
	t.Setenv("CTMS_CLIENT_ID", "id_someone")
	t.Setenv("CTMS_CLIENT_SECRET", "secret_something")
	r := runCLI(t, "", "delete-bulk", "--email", "someone@example.com")
	require.Equal(t, 1, r.code)
	require.Equal(t, "", r.out)
	require.True(t, strings.HasPrefix(r.errOut, "Error: get a token: Post \""+url+"/token\": "), r.errOut)
}

// Server errors and broken connections count as failed deletions (exit status 1)
// without stopping the run; the bearer token is sent with every request.
func TestDeleteBulkFailures(t *testing.T) {
	var (
		mu    sync.Mutex // the client retries a dropped DELETE while its handler still runs
		auths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if id, secret, ok := r.BasicAuth(); !ok || id != "id_someone" || secret != "secret_something" {
				http.Error(w, "bad credentials", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"tok","token_type":"bearer","expires_in":60}`)
			return
		}
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/ctms/broken@example.com":
			panic(http.ErrAbortHandler) // the connection is dropped
		case "/ctms/crash@example.com":
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"detail":"email not found!"}`)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("CTMS_API_URL", srv.URL)
	t.Setenv("CTMS_CLIENT_ID", "id_someone")
	t.Setenv("CTMS_CLIENT_SECRET", "secret_something")

	file := writeEmailFile(t, "broken@example.com\ncrash@example.com\n")
	r := runCLI(t, "", "delete-bulk", "--email-file", file, "--email", "fine@example.com")
	require.Equal(t, 1, r.code)
	require.Equal(t, "fine@example.com not found in CTMS\n", r.out)
	f0 := barFrame(">", 0, 3)
	f1 := barFrame("==========>", 1, 3)
	f2 := barFrame("====================>", 2, 3)
	f3 := barFrame("==============================", 3, 3)
	prefix := f0 + barClear(f0) + `broken@example.com: Delete "` + srv.URL + `/ctms/broken@example.com": `
	require.True(t, strings.HasPrefix(r.errOut, prefix), r.errOut)
	require.True(t, strings.HasSuffix(r.errOut, "\n"+f1+barClear(f1)+"500: Internal Server Error\n"+
		f2+barClear(f2)+f3+"\n"), r.errOut)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"Bearer tok", "Bearer tok", "Bearer tok"}, auths[len(auths)-3:])
}
