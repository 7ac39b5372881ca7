package httpapi

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
)

// AuthInfo is what authentication learned about the request's client; it lives
// in the request context only (never shared between requests) and feeds the
// request log line and the per-client metrics.
type AuthInfo struct {
	ClientID       string
	ClientAllowed  *bool  // set by bearer authentication
	AuthFail       string // "No or bad token", "Bad namespace", "No client record", "Client disabled"
	TokenCredsFrom string // POST /token: "form" or "header"
	TokenFail      string // POST /token: "No credentials", "No client record", "Client disabled", "Bad credentials", "Too many failures"
}

// authInfo is the request's AuthInfo (see requestState).
func authInfo(ctx context.Context) *AuthInfo { return &stateOf(ctx).auth }

var (
	errNotAuthenticated = &Error{Status: http.StatusUnauthorized, Detail: "Not authenticated",
		Header: http.Header{"Www-Authenticate": {"Bearer"}}}
	errBadCredentials = &Error{Status: http.StatusUnauthorized, Detail: "Could not validate credentials",
		Header: http.Header{"Www-Authenticate": {"Bearer"}}}
	errClientDisabled = httpError(http.StatusBadRequest, "API Client has been disabled")
)

// authenticate checks the bearer token and the client it names (§5.1).
func (s *server) authenticate(r *http.Request) (*store.APIClient, error) {
	ctx := r.Context()
	info := authInfo(ctx)
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return nil, errNotAuthenticated
	}
	clientID, err := auth.ParseToken(s.cfg.SecretKey, token, time.Now())
	switch {
	case errors.Is(err, auth.ErrBadNamespace):
		info.ClientID, info.ClientAllowed, info.AuthFail = clientID, new(false), "Bad namespace"
		return nil, errBadCredentials
	case err != nil:
		info.ClientAllowed, info.AuthFail = new(false), "No or bad token"
		return nil, errBadCredentials
	}
	info.ClientID = clientID
	client, err := s.apiClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		info.ClientAllowed, info.AuthFail = new(false), "No client record"
		return nil, errBadCredentials
	case err != nil:
		return nil, err
	}
	s.touch(ctx, clientID)
	if !client.Enabled {
		info.AuthFail = "Client disabled"
		return nil, errClientDisabled
	}
	info.ClientAllowed = new(true)
	return &client, nil
}

// authorize enforces the permissions an operation declares in the spec
// (x-ctms-permissions): the client needs one of them, or the role "admin".
func (s *server) authorize(client *store.APIClient, op *openapi3.Operation) error {
	if !s.cfg.EnforcePermissions {
		return nil
	}
	perms := requiredPermissions(op)
	if len(perms) == 0 || client.HasAny(perms) {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Detail: "Permission(s) required: " + strings.Join(perms, ", ")}
}

func requiredPermissions(op *openapi3.Operation) []string {
	raw, _ := op.Extensions["x-ctms-permissions"].([]any)
	perms := make([]string, 0, len(raw))
	for _, p := range raw {
		if name, ok := p.(string); ok {
			perms = append(perms, name)
		}
	}
	return perms
}

// lastAccess throttles last_access writes to one a minute per client
// (docs/migrating-from-python.md), so reads do not turn into writes.
type lastAccess struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (s *server) touch(ctx context.Context, clientID string) {
	now := time.Now()
	s.access.mu.Lock()
	due := now.Sub(s.access.seen[clientID]) >= time.Minute
	if due {
		s.access.seen[clientID] = now
	}
	s.access.mu.Unlock()
	if due {
		if err := s.store.TouchLastAccess(ctx, clientID); err != nil {
			// Not worth failing the request over; the next minute retries.
			s.access.mu.Lock()
			delete(s.access.seen, clientID)
			s.access.mu.Unlock()
		}
	}
}

var grantTypePattern = regexp.MustCompile(`^(client_credentials|refresh_token)$`)

// token is POST /token: OAuth2 client credentials → access token (§3.2).
func (s *server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := authInfo(ctx)

	form, err := readForm(w, r, s.maxBodyBytes())
	if err != nil {
		writeError(w, r, err)
		return
	}
	basicID, basicSecret, basicOK, malformed := auth.ParseBasic(r.Header.Get("Authorization"))
	if malformed {
		writeError(w, r, &Error{Status: http.StatusUnauthorized, Detail: "Invalid authentication credentials",
			Header: http.Header{"Www-Authenticate": {"Basic"}}})
		return
	}
	if gt := form.Get("grant_type"); gt != "" && !grantTypePattern.MatchString(gt) {
		pattern := grantTypePattern.String()
		writeError(w, r, invalid(ValidationItem{Type: "string_pattern_mismatch", Loc: []any{"body", "grant_type"},
			Msg: "String should match pattern '" + pattern + "'", Input: gt, Ctx: map[string]any{"pattern": pattern}}))
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case id != "" && secret != "":
		info.TokenCredsFrom = "form"
	case basicOK:
		id, secret = basicID, basicSecret
		info.TokenCredsFrom = "header"
	default:
		info.TokenFail = "No credentials"
		s.metrics.TokenFailed(obs.TokenNoCredentials)
		writeError(w, r, errBadLogin)
		return
	}
	info.ClientID = id
	if err := s.throttle.admit(id); err != nil { // too many failures for this id (throttle.go)
		info.TokenFail = "Too many failures"
		s.metrics.TokenFailed(obs.TokenThrottled)
		writeError(w, r, err)
		return
	}
	defer s.throttle.done(id, info)
	client, err := s.store.APIClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		info.TokenFail = "No client record"
		s.metrics.TokenFailed(obs.TokenUnknownClient)
		writeError(w, r, errBadLogin)
		return
	case err != nil:
		writeError(w, r, err)
		return
	case !client.Enabled:
		info.TokenFail = "Client disabled"
		s.metrics.TokenFailed(obs.TokenClientDisabled)
		writeError(w, r, errBadLogin)
		return
	}
	ok, err := auth.VerifySecretContext(ctx, secret, client.HashedSecret)
	if err != nil && ctx.Err() != nil {
		writeError(w, r, err)
		return
	}
	if !ok { // a stored value that is not an argon2 hash also ends here
		info.TokenFail = "Bad credentials"
		s.metrics.TokenFailed(obs.TokenBadSecret)
		writeError(w, r, errBadLogin)
		return
	}
	token, err := auth.MintToken(s.cfg.SecretKey, id, s.cfg.TokenExpiration, time.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}{token, "bearer", int64(s.cfg.TokenExpiration / time.Second)})
}

var errBadLogin = httpError(http.StatusBadRequest, "Incorrect username or password")

// readForm parses a urlencoded or multipart body; other content types carry no
// form fields. Empty values count as absent.
func readForm(w http.ResponseWriter, r *http.Request, maxBody int64) (formValues, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(maxBody) // #nosec G120 -- r.Body is limited to maxBody bytes above
	default:
		return formValues{}, nil
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, httpError(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return nil, httpError(http.StatusBadRequest, "There was an error parsing the body")
	}
	return formValues(r.PostForm), nil
}

type formValues map[string][]string

func (f formValues) Get(k string) string {
	if vs := f[k]; len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return ""
}
