package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
)

// AuthInfo is what authentication learned about the request's client; it lives
// in the request context only (never shared between requests) and feeds the
// request log line and the per-client metrics.
//
// ClientID is only ever an id that a token we signed names, or that an API
// client has (docs/reliability.md): an id submitted to
// POST /token that no client has leaves it empty and sets ClientUnknown, so
// the metrics count it as "unknown" and the log does not hold it.
type AuthInfo struct {
	ClientID       string
	ClientUnknown  bool   // POST /token named a client id not known to exist
	ClientAllowed  *bool  // set by bearer authentication
	AuthFail       string // "No or bad token", "Bad namespace", "No client record", "Client disabled"
	TokenCredsFrom string // POST /token: "form" or "header"
	TokenFail      TokenFailure
}

// TokenFailure is why POST /token refused a request: the token_fail log field.
// The set is fixed (TokenFailures), so it can also label a metric.
type TokenFailure string

// The reasons POST /token fails for; the first four are the Python CTMS's.
const (
	TokenNoCredentials  TokenFailure = "No credentials"    // 400: no id and secret
	TokenNoClient       TokenFailure = "No client record"  // 400: no client has the id
	TokenClientDisabled TokenFailure = "Client disabled"   // 400
	TokenBadCredentials TokenFailure = "Bad credentials"   // 400: wrong secret, or an unusable stored hash
	TokenThrottled      TokenFailure = "Too many failures" // 429 (throttle.go)
	TokenBusy           TokenFailure = "Busy"              // 503: no place in the argon2 queue (auth.Verifier)
)

// TokenFailures lists every TokenFailure.
var TokenFailures = []TokenFailure{TokenNoCredentials, TokenNoClient, TokenClientDisabled, TokenBadCredentials, TokenThrottled, TokenBusy}

// counts reports whether the failure is charged to the throttle: the secret
// was checked (or would have been) and refused, or it was not checked for want
// of a place in the argon2 queue (TokenBusy): a caller flooding the queue
// spends its own budget, and is soon refused before it costs anything.
func (f TokenFailure) counts() bool {
	return f == TokenNoClient || f == TokenClientDisabled || f == TokenBadCredentials || f == TokenBusy
}

// metricReason is the ctms_token_failures_total reason of a refused login;
// "" (not counted) for a success and for TokenBusy, which refused no credentials.
func (f TokenFailure) metricReason() obs.TokenFailure { return tokenFailureMetric[f] }

var tokenFailureMetric = map[TokenFailure]obs.TokenFailure{
	TokenNoCredentials: obs.TokenNoCredentials, TokenNoClient: obs.TokenUnknownClient,
	TokenClientDisabled: obs.TokenClientDisabled, TokenBadCredentials: obs.TokenBadSecret,
	TokenThrottled: obs.TokenThrottled,
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
	clientID, err := s.parseToken(token, time.Now())
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

// parseToken verifies a bearer token with CTMS_SECRET_KEY, else with
// CTMS_SECRET_KEY_PREVIOUS when set: tokens issued before a key rotation keep
// working until they expire. Tokens are only ever signed with the current key.
func (s *server) parseToken(token string, now time.Time) (string, error) {
	if id, ok := s.tokens.get(token, now); ok {
		return id, nil
	}
	clientID, err := s.verifyToken(token, now)
	if err == nil {
		s.tokens.put(token, clientID)
	}
	return clientID, err
}

func (s *server) verifyToken(token string, now time.Time) (string, error) {
	clientID, err := auth.ParseToken(s.cfg.SecretKey, token, now)
	if errors.Is(err, auth.ErrBadToken) && s.cfg.SecretKeyPrevious != "" {
		latest := s.previousKeyLatestExp(now)
		if id, prevErr := auth.ParseTokenExpiringBy(s.cfg.SecretKeyPrevious, token, now, latest); !errors.Is(prevErr, auth.ErrBadToken) {
			return id, prevErr
		}
	}
	return clientID, err
}

// tokenClockSkew is how far the clocks of the instances (and of a Python CTMS
// sharing the key) may disagree: a token minted by an instance ahead of this
// one expires that much later than this one's would.
const tokenClockSkew = time.Minute

// previousKeyLatestExp bounds the expiry of the tokens CTMS_SECRET_KEY_PREVIOUS
// verifies: the tokens it legitimately signed were issued (exp minus
// CTMS_TOKEN_EXPIRATION, as MintToken and the Python CTMS set it) before the
// rotation, and so no later than this process's start plus the time the
// rollout of the rotation takes, which is taken to be at most
// CTMS_TOKEN_EXPIRATION; and none was issued in the future. So a token signed
// with the previous key that expires after the earlier of now + ttl and
// start + 2×ttl (plus clock skew) is refused: whoever still holds the old key
// cannot mint long-lived tokens with it, nor fresh ones for long
// (docs/deployment.md). Tokens signed with the current key are not bounded:
// their only issuers are CTMS instances, which may be configured with a longer
// CTMS_TOKEN_EXPIRATION during a rollout.
func (s *server) previousKeyLatestExp(now time.Time) time.Time {
	ttl := s.cfg.TokenExpiration
	issuedBy := now
	if rollout := s.started.Add(ttl); rollout.Before(now) {
		issuedBy = rollout
	}
	return issuedBy.Add(ttl + tokenClockSkew)
}

// verifiedTokens remembers the bearer tokens that passed verification, so a
// client's requests cost one HMAC check and one JSON decoding per token, not per
// request. A token is the same text whoever sends it: its signature, subject and
// not-before are as good at its next use; only its expiry is checked again.
type verifiedTokens struct {
	mu      sync.Mutex
	entries map[string]verifiedToken
}

type verifiedToken struct {
	clientID string
	expires  time.Time
}

// maxVerifiedTokens bounds the memory of verifiedTokens (tokens are ~200 bytes);
// when full it starts over.
const maxVerifiedTokens = 4096

func (v *verifiedTokens) get(token string, now time.Time) (string, bool) {
	v.mu.Lock()
	e, ok := v.entries[token]
	v.mu.Unlock()
	if !ok || !now.Before(e.expires) { // exp must be strictly after now (auth.ParseToken)
		return "", false
	}
	return e.clientID, true
}

// put remembers a token that passed auth.ParseToken, with its expiry.
func (v *verifiedTokens) put(token, clientID string) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil || len(v.entries) >= maxVerifiedTokens {
		v.entries = map[string]verifiedToken{}
	}
	v.entries[token] = verifiedToken{clientID: clientID, expires: claims.ExpiresAt.Time}
}

// authorize enforces the permissions an operation declares in the spec
// (x-ctms-permissions): the client needs one of them, or the role "admin".
func (s *server) authorize(client *store.APIClient, perms []string) error {
	if !s.cfg.EnforcePermissions {
		return nil
	}
	if len(perms) == 0 || client.HasAny(perms) {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Detail: "Permission(s) required: " + strings.Join(perms, ", ")}
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
// body is the request body as the read body stage read it (stages.go).
func (s *server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	info := authInfo(ctx)
	defer func() { s.metrics.TokenFailed(info.TokenFail.metricReason()) }()

	form, err := readForm(r.Header.Get("Content-Type"), body, s.maxBodyBytes())
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
		info.TokenFail = TokenNoCredentials
		writeError(w, r, errBadLogin)
		return
	}
	info.ClientUnknown = true // until a client with this id is found
	s.throttle.noticeForwarding(r, s.cfg.TrustedProxies, s.log)
	addr := sourceAddress(r, s.cfg.TrustedProxies)
	charged, err := s.throttle.admit(addr, id)
	if err != nil {
		info.TokenFail = TokenThrottled
		writeError(w, r, err)
		return
	}
	defer func() { s.throttle.done(charged, info.TokenFail.counts()) }()
	if fail, err := s.checkClient(ctx, addr, id, secret); fail != "" || err != nil {
		info.TokenFail = fail
		switch {
		case err != nil:
			writeError(w, r, err)
		case fail == TokenBusy:
			writeError(w, r, errVerifyBusy)
		default:
			writeError(w, r, errBadLogin)
		}
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

var (
	errBadLogin   = httpError(http.StatusBadRequest, "Incorrect username or password")
	errVerifyBusy = &Error{Status: http.StatusServiceUnavailable, Detail: "Too many logins in progress, try again later",
		Header: http.Header{"Retry-After": {"1"}}}
)

// checkClient checks a client id and secret submitted to POST /token from
// source address addr: a TokenFailure, or an error for a server-side problem.
// Every refusal costs one argon2 verification through s.verifier (bounded
// memory, bounded queue, shared fairly between source addresses): an unknown
// id is verified against a dummy hash and a disabled client against its own,
// so neither fails faster than a wrong secret and timing does not tell which
// ids exist. A place in the verifier's queue is taken before the client is
// looked up, so that a caller refused for want of one costs no database round
// trip. A stored hash that is unusable (malformed, or cost parameters out of
// bounds) is refused at once and logged as a data problem.
func (s *server) checkClient(ctx context.Context, addr, id, secret string) (TokenFailure, error) {
	info := authInfo(ctx)
	ticket, err := s.verifier.Admit(addr)
	if err != nil {
		return TokenBusy, nil
	}
	defer ticket.Release()
	var client store.APIClient
	err = store.ErrNotFound
	if couldBeClientID(id) {
		client, err = s.store.APIClient(ctx, id)
	}
	hash := client.HashedSecret
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash = s.dummyHash
	case err != nil:
		return "", err
	default:
		info.ClientID, info.ClientUnknown = id, false // a client has this id: it may be labelled and logged
	}
	ok, err := ticket.Verify(ctx, secret, hash)
	switch {
	case errors.Is(err, auth.ErrBusy), errors.Is(err, context.DeadlineExceeded):
		return TokenBusy, nil // its place went to another address, or the request's deadline passed waiting
	case errors.Is(err, auth.ErrInvalidHash):
		s.log.LogAttrs(ctx, slog.LevelError, "unusable hashed_secret", slog.String(obs.LoggerKey, "ctms.auth"),
			slog.String("client_id", info.ClientID), slog.String("problem", err.Error()))
	case err != nil:
		return "", err // the client went away while waiting
	}
	switch {
	case info.ClientUnknown:
		return TokenNoClient, nil
	case !client.Enabled:
		return TokenClientDisabled, nil
	case !ok:
		return TokenBadCredentials, nil
	}
	return "", nil
}

// couldBeClientID reports whether the database could hold id: api_client.client_id is
// varchar(255), and PostgreSQL stores neither NUL nor invalid UTF-8 (asking for such an
// id is an error, not "no row"). Other ids are unknown without a query.
func couldBeClientID(id string) bool {
	return utf8.ValidString(id) && !strings.ContainsRune(id, 0) && utf8.RuneCountInString(id) <= 255
}

// readForm parses a urlencoded or multipart body (as http.Request's ParseForm
// and ParseMultipartForm do); other content types carry no form fields. Empty
// values count as absent.
func readForm(contentType string, body []byte, maxBody int64) (formValues, error) {
	errParse := httpError(http.StatusBadRequest, "There was an error parsing the body")
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errParse
		}
		return formValues(values), nil
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, errParse
		}
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxBody)
		if err != nil {
			return nil, errParse
		}
		defer func() { _ = form.RemoveAll() }() // files spilled to disk, if any
		return formValues(form.Value), nil
	}
	return formValues{}, nil
}

type formValues map[string][]string

func (f formValues) Get(k string) string {
	if vs := f[k]; len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return ""
}
