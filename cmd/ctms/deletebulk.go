package main

// `ctms delete-bulk`: the Python CTMS's ctms/bin/delete_bulk.py, as an API
// client built on the client generated from our published spec (gen/client).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ctms-go/ctms/gen/client"
	"github.com/ctms-go/ctms/internal/config"
)

const (
	defaultAPIURL     = "http://127.0.0.1:8000"
	deleteBulkTimeout = time.Minute // per HTTP request
)

// deleteBulkCmd deletes contacts by primary e-mail through the API, as
// delete_bulk.py does, plus --dry-run, a progress bar for --email-file and a
// non-zero exit status when a deletion failed.
type deleteBulkCmd struct {
	Email     string `help:"Primary e-mail of a contact to delete (after those of --email-file)." placeholder:"ADDRESS"`
	EmailFile string `name:"email-file" type:"path" help:"File with one primary e-mail per line; trailing whitespace is stripped and blank lines are skipped." placeholder:"FILE"`
	DryRun    bool   `name:"dry-run" help:"Delete nothing: look each address up (GET /identities) and print what would be deleted."`
}

// Help is the detailed --help text (kong.HelpProvider).
func (c *deleteBulkCmd) Help() string {
	return "Delete contacts by primary e-mail through the CTMS API (DELETE /ctms/{primary_email}), " +
		"matching case-insensitively. Configured by CTMS_API_URL (default " + defaultAPIURL + "), " +
		"CTMS_CLIENT_ID and CTMS_CLIENT_SECRET (required; or CTMS_CLIENT_SECRET_FILE, a file holding the secret). The addresses of --email-file come first, " +
		"then --email; blank lines of the file are skipped. Prints \"DELETING <address> (ctms id: <id>).\" " +
		"per deleted contact (with \" fxa: YES.\" and \" mofo: YES.\" when it had those groups), then " +
		"\"TOMBSTONES <address>: <id>, ....\" listing the email_ids whose deletion tombstones were written " +
		"(GET /deletions), and " +
		"\"<address> not found in CTMS\" on stdout; failed requests as \"<status>: <reason>\" on stderr, " +
		"where a progress bar is also drawn while working through --email-file. " +
		"Exit status 1 if any deletion failed."
}

// deleteBulkEnv is the command's configuration, from the environment only
// (no database settings are needed, so config.Load is not used).
type deleteBulkEnv struct {
	apiURL, clientID, clientSecret string
}

func loadDeleteBulkEnv() (*deleteBulkEnv, error) {
	// The secret may come from CTMS_CLIENT_SECRET_FILE, as the service's secrets do; the
	// names are exact, and an empty variable counts as unset.
	secret, _, err := config.ValueOrFile(func(name string) (string, bool) {
		v := os.Getenv(name)
		return v, v != ""
	}, "CTMS_CLIENT_SECRET")
	if err != nil {
		return nil, err
	}
	env := &deleteBulkEnv{
		apiURL:       os.Getenv("CTMS_API_URL"),
		clientID:     os.Getenv("CTMS_CLIENT_ID"),
		clientSecret: secret,
	}
	if env.apiURL == "" {
		env.apiURL = defaultAPIURL
	}
	for _, v := range []struct{ name, value string }{
		{"CTMS_CLIENT_ID", env.clientID}, {"CTMS_CLIENT_SECRET", env.clientSecret},
	} {
		if v.value == "" {
			return nil, fmt.Errorf("the environment variable %s is required", v.name)
		}
	}
	return env, nil
}

// Validate is called by kong after parsing: a usage error (exit status 2).
func (c *deleteBulkCmd) Validate() error {
	if c.Email == "" && c.EmailFile == "" {
		return &usageError{msg: "Nothing to delete: give --email and/or --email-file."}
	}
	return nil
}

func (c *deleteBulkCmd) Run(sio stdio) error {
	env, err := loadDeleteBulkEnv()
	if err != nil {
		return err
	}
	targets, err := c.targets()
	if err != nil {
		return err
	}
	api, err := client.NewClient(env.apiURL, client.WithHTTPClient(&http.Client{Timeout: deleteBulkTimeout}))
	if err != nil {
		return fmt.Errorf("CTMS_API_URL: %w", err)
	}
	ctx := context.Background()

	auth, err := login(ctx, api, env, sio)
	if err != nil {
		return err
	}

	var bar *progressBar
	if c.EmailFile != "" && len(targets) > 0 {
		bar = &progressBar{w: sio.Err, total: len(targets)}
		bar.draw()
	}
	out := &barWriter{bar: bar, w: sio.Out}
	errOut := &barWriter{bar: bar, w: sio.Err}
	failed := false
	for _, target := range targets {
		var ok bool
		if c.DryRun {
			ok = lookUp(ctx, api, auth, target, out, errOut)
		} else {
			ok = deleteOne(ctx, api, auth, target, out, errOut)
		}
		failed = failed || !ok
		bar.step()
	}
	bar.finish()
	if failed {
		return exitCode(1)
	}
	return nil
}

// targets lists the addresses: the file's lines (trailing whitespace
// stripped, blank lines skipped), then --email.
func (c *deleteBulkCmd) targets() ([]string, error) {
	var targets []string
	if c.EmailFile != "" {
		f, err := os.Open(c.EmailFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if t := strings.TrimRightFunc(line, unicode.IsSpace); t != "" {
				targets = append(targets, t)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", c.EmailFile, err)
			}
		}
	}
	if c.Email != "" {
		targets = append(targets, c.Email)
	}
	return targets, nil
}

// login gets an access token with HTTP Basic credentials. A refusal is
// reported as "<status>: <reason>" and the work goes on without a token (the
// requests then fail with 401), as delete_bulk.py does; an unreachable server
// ends the command.
func login(ctx context.Context, api *client.Client, env *deleteBulkEnv, sio stdio) (client.RequestEditorFn, error) {
	grant := "client_credentials"
	basic := func(_ context.Context, req *http.Request) error {
		req.SetBasicAuth(env.clientID, env.clientSecret)
		return nil
	}
	rsp, err := api.LoginWithFormdataBody(ctx, client.TokenRequest{GrantType: &grant}, basic)
	if err != nil {
		return nil, fmt.Errorf("get a token: %w", err)
	}
	noToken := func(context.Context, *http.Request) error { return nil }
	if !is2xx(rsp) {
		_ = rsp.Body.Close() // the body was not read: nothing to report
		fmt.Fprintln(sio.Err, statusLine(rsp))
		return noToken, nil
	}
	res, err := client.ParseLoginResult(rsp)
	if err != nil || res.JSON200 == nil || res.JSON200.AccessToken == "" {
		return nil, fmt.Errorf("get a token: unexpected response (%s)", statusLine(rsp))
	}
	bearer := "Bearer " + res.JSON200.AccessToken
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", bearer)
		return nil
	}, nil
}

// deleteOne deletes the contacts of one address and reports whether the
// request succeeded (a 404 counts as success: there was nothing to delete).
func deleteOne(ctx context.Context, api *client.Client, auth client.RequestEditorFn, target string, out, errOut io.Writer) bool {
	rsp, err := api.DeleteContactByPrimaryEmail(ctx, target, auth)
	if err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", target, err)
		return false
	}
	var identities []client.IdentityResponse
	switch {
	case rsp.StatusCode == http.StatusNotFound:
		_ = rsp.Body.Close() // the body was not read: nothing to report
		fmt.Fprintf(out, "%s not found in CTMS\n", target)
		return true
	case !is2xx(rsp):
		_ = rsp.Body.Close() // the body was not read: nothing to report
		fmt.Fprintln(errOut, statusLine(rsp))
		return false
	}
	res, err := client.ParseDeleteContactByPrimaryEmailResult(rsp)
	if err != nil {
		fmt.Fprintf(errOut, "%s: %s: %v\n", target, statusLine(rsp), err)
		return false
	}
	if res.JSON200 != nil {
		identities = *res.JSON200
	}
	printIdentities(out, "DELETING", target, identities)
	printTombstones(out, target, identities)
	return true
}

// lookUp is deleteOne for --dry-run: GET /identities?primary_email=<target>.
func lookUp(ctx context.Context, api *client.Client, auth client.RequestEditorFn, target string, out, errOut io.Writer) bool {
	rsp, err := api.ReadIdentities(ctx, &client.ReadIdentitiesParams{PrimaryEmail: &target}, auth)
	if err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", target, err)
		return false
	}
	if !is2xx(rsp) {
		_ = rsp.Body.Close() // the body was not read: nothing to report
		fmt.Fprintln(errOut, statusLine(rsp))
		return false
	}
	res, err := client.ParseReadIdentitiesResult(rsp)
	if err != nil || res.JSON200 == nil {
		fmt.Fprintf(errOut, "%s: %s: unexpected response\n", target, statusLine(rsp))
		return false
	}
	if len(*res.JSON200) == 0 {
		fmt.Fprintf(out, "%s not found in CTMS\n", target)
		return true
	}
	printIdentities(out, "WOULD DELETE", target, *res.JSON200)
	return true
}

func printIdentities(out io.Writer, verb, target string, identities []client.IdentityResponse) {
	for _, id := range identities {
		line := fmt.Sprintf("%s %s (ctms id: %s).", verb, target, id.EmailId)
		if id.FxaId != nil && *id.FxaId != "" {
			line += " fxa: YES."
		}
		if id.MofoContactId != nil && *id.MofoContactId != "" {
			line += " mofo: YES."
		}
		fmt.Fprintln(out, line)
	}
}

// printTombstones lists the email_ids whose deletion tombstones the request wrote
// (the database writes one per deleted contact in the deleting transaction, so a
// 200 means they exist): the ids a GET /deletions consumer will see.
func printTombstones(out io.Writer, target string, identities []client.IdentityResponse) {
	if len(identities) == 0 {
		return
	}
	ids := make([]string, len(identities))
	for i, id := range identities {
		ids[i] = id.EmailId.String()
	}
	fmt.Fprintf(out, "TOMBSTONES %s: %s.\n", target, strings.Join(ids, ", "))
}

func is2xx(rsp *http.Response) bool { return rsp.StatusCode >= 200 && rsp.StatusCode < 300 }

// statusLine is "<status>: <reason>", the reason phrase as the server sent it
// (Python requests' response.reason).
func statusLine(rsp *http.Response) string {
	code := strconv.Itoa(rsp.StatusCode)
	reason := strings.TrimSpace(strings.TrimPrefix(rsp.Status, code))
	if reason == "" {
		reason = http.StatusText(rsp.StatusCode)
	}
	return code + ": " + reason
}

// progressBar draws "[=====>    ] 12/40" on one line of stderr, redrawn with \r.
type progressBar struct {
	w           io.Writer
	done, total int
	drawn       int // length of the line on screen, 0 when cleared
}

const progressWidth = 30

func (p *progressBar) draw() {
	if p == nil {
		return
	}
	filled := p.done * progressWidth / p.total
	bar := strings.Repeat("=", filled)
	if p.done < p.total {
		bar += ">"
	}
	line := fmt.Sprintf("[%-*s] %d/%d", progressWidth, bar, p.done, p.total)
	fmt.Fprint(p.w, "\r"+line)
	p.drawn = len(line)
}

// clear blanks the bar so that a message can take its line.
func (p *progressBar) clear() {
	if p == nil || p.drawn == 0 {
		return
	}
	fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.drawn)+"\r")
	p.drawn = 0
}

func (p *progressBar) step() {
	if p == nil {
		return
	}
	p.done++
	p.draw()
}

func (p *progressBar) finish() {
	if p == nil {
		return
	}
	if p.drawn == 0 {
		p.draw()
	}
	fmt.Fprintln(p.w)
}

// barWriter clears the progress bar before each message (whole lines).
type barWriter struct {
	bar *progressBar
	w   io.Writer
}

func (b *barWriter) Write(p []byte) (int, error) {
	b.bar.clear()
	return b.w.Write(p)
}
