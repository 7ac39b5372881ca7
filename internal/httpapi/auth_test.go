package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/auth"
)

func basic(id, secret string) reqOpt {
	return withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
}

func form() reqOpt { return withHeader("Content-Type", "application/x-www-form-urlencoded") }

// postToken calls POST /token with a form body and the given options (no bearer token).
func (a *apiTest) postToken(values url.Values, opts ...reqOpt) *response {
	a.t.Helper()
	return a.do("POST", "/token", values.Encode(), append([]reqOpt{noAuth(), form()}, opts...)...)
}

func requireToken(t *testing.T, r *response) string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, []string{"access_token", "token_type", "expires_in"}, keysOf(t, r.Body))
	got := r.Object(t)
	require.Equal(t, "bearer", got["token_type"])
	require.Equal(t, float64(3600), got["expires_in"])
	return got["access_token"].(string)
}

func TestTokenIssued(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tests := []struct {
		name   string
		values url.Values
		opts   []reqOpt
	}{
		{"basic header", url.Values{"grant_type": {"client_credentials"}}, []reqOpt{basic(a.clientID, a.secret)}},
		{"basic header, no body", nil, []reqOpt{basic(a.clientID, a.secret)}},
		{"form fields", url.Values{"grant_type": {"client_credentials"}, "client_id": {a.clientID}, "client_secret": {a.secret}}, nil},
		{"form fields without grant_type", url.Values{"client_id": {a.clientID}, "client_secret": {a.secret}, "scope": {"a b"}}, nil},
		{"refresh_token grant", url.Values{"grant_type": {"refresh_token"}, "client_id": {a.clientID}, "client_secret": {a.secret}}, nil},
		{"form wins over a wrong header", url.Values{"client_id": {a.clientID}, "client_secret": {a.secret}}, []reqOpt{basic(a.clientID, "wrong")}},
		{"header used when the form has only an id", url.Values{"client_id": {"unknown"}}, []reqOpt{basic(a.clientID, a.secret)}},
		{"empty form values count as absent", url.Values{"client_id": {""}, "client_secret": {""}, "grant_type": {""}}, []reqOpt{basic(a.clientID, a.secret)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			token := requireToken(t, a.postToken(tc.values, tc.opts...))
			clientID, err := auth.ParseToken(testSecretKey, token, time.Now())
			require.NoError(t, err)
			require.Equal(t, a.clientID, clientID)
			// The token works on the API.
			r := a.do("GET", "/ctms/"+uuid.NewString(), nil, withHeader("Authorization", "Bearer "+token))
			requireDetail(t, r, http.StatusNotFound, "Unknown email_id")
		})
	}
	t.Run("multipart form", func(t *testing.T) {
		a := a.on(t)
		body := "--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\n" + a.clientID +
			"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\n" + a.secret + "\r\n--XyZ--\r\n"
		requireToken(t, a.do("POST", "/token", body, noAuth(), withHeader("Content-Type", "multipart/form-data; boundary=XyZ")))
	})
}

// TestTokenWithDefaultHash: a secret hashed as `ctms clients` stores it.
func TestTokenWithDefaultHash(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	secret, err := auth.NewSecret()
	require.NoError(t, err)
	hash, err := auth.HashSecret(secret)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=4$"), hash)
	id := a.insertClient(true, hash)
	token := requireToken(t, a.postToken(nil, basic(id, secret)))
	clientID, err := auth.ParseToken(testSecretKey, token, time.Now())
	require.NoError(t, err)
	require.Equal(t, id, clientID)
	requireDetail(t, a.postToken(nil, basic(id, secret+"x")), http.StatusBadRequest, "Incorrect username or password")
}

func TestTokenRefused(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	disabledID, disabledSecret := a.createClient(false)
	const bad = "Incorrect username or password"
	tests := []struct {
		name   string
		values url.Values
		opts   []reqOpt
	}{
		{"no credentials", nil, nil},
		{"wrong secret (header)", nil, []reqOpt{basic(a.clientID, a.secret+"x")}},
		{"wrong secret (form)", url.Values{"client_id": {a.clientID}, "client_secret": {"secret_nope"}}, nil},
		{"unknown client", url.Values{"client_id": {"id_unknown_" + uuid.NewString()}, "client_secret": {a.secret}}, nil},
		{"disabled client", url.Values{"client_id": {disabledID}, "client_secret": {disabledSecret}}, nil},
		{"form secret only", url.Values{"client_secret": {a.secret}}, nil},
		{"JSON body is no form", nil, []reqOpt{withHeader("Content-Type", "application/json")}},
		{"bearer header is no credential", nil, []reqOpt{withHeader("Authorization", "Bearer "+a.token)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			requireDetail(t, a.postToken(tc.values, tc.opts...), http.StatusBadRequest, bad)
		})
	}
	for name, header := range map[string]string{
		"not base64":      "Basic !!!notbase64",
		"no colon":        "Basic " + base64.StdEncoding.EncodeToString([]byte("idsecret")),
		"not ASCII":       "Basic " + base64.StdEncoding.EncodeToString([]byte("idé:secret")),
		"even with forms": "Basic %%%",
	} {
		t.Run("malformed basic/"+name, func(t *testing.T) {
			a := a.on(t)
			values := url.Values{}
			if name == "even with forms" {
				values = url.Values{"client_id": {a.clientID}, "client_secret": {a.secret}}
			}
			r := a.postToken(values, withHeader("Authorization", header))
			requireDetail(t, r, http.StatusUnauthorized, "Invalid authentication credentials")
			require.Equal(t, "Basic", r.Header.Get("WWW-Authenticate"))
		})
	}
	t.Run("grant_type password", func(t *testing.T) {
		a := a.on(t)
		r := a.postToken(url.Values{"grant_type": {"password"}, "client_id": {a.clientID}, "client_secret": {a.secret}})
		require.Equal(t, obj{"type": "string_pattern_mismatch", "loc": arr{"body", "grant_type"},
			"msg": "String should match pattern '^(client_credentials|refresh_token)$'", "input": "password",
			"ctx": obj{"pattern": "^(client_credentials|refresh_token)$"}}, validationErrors(t, r)[0])
	})
	t.Run("body too large", func(t *testing.T) {
		a := a.on(t)
		body := "client_id=" + strings.Repeat("x", 1<<20)
		r := a.do("POST", "/token", body, noAuth(), form())
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "%s", r.Body)
	})
}

func TestTokenOfDeletedClient(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, secret := a.createClient(true)
	token := requireToken(t, a.postToken(nil, basic(id, secret)))
	bearer := withHeader("Authorization", "Bearer "+token)
	requireDetail(t, a.do("GET", "/ctms/"+uuid.NewString(), nil, bearer), http.StatusNotFound, "Unknown email_id")
	a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, id)
	r := a.do("GET", "/ctms/"+uuid.NewString(), nil, bearer)
	requireDetail(t, r, http.StatusBadRequest, "API Client has been disabled")
	require.Empty(t, r.Header.Get("WWW-Authenticate"))
	a.exec(`DELETE FROM api_client WHERE client_id = $1`, id)
	r = a.do("GET", "/ctms/"+uuid.NewString(), nil, bearer)
	requireDetail(t, r, http.StatusUnauthorized, "Could not validate credentials")
	require.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
}

func TestLastAccessRecorded(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, _ := a.createClient(true)
	require.Equal(t, 1, a.count(`SELECT count(*) FROM api_client WHERE client_id = $1 AND last_access IS NULL`, id))
	r := a.do("GET", "/ctms/"+uuid.NewString(), nil, withHeader("Authorization", "Bearer "+a.tokenFor(id)))
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, 1, a.count(`SELECT count(*) FROM api_client WHERE client_id = $1 AND last_access > now() - interval '1 minute'`, id))
}

// signed makes an HS-signed JWT with the given claims.
func signed(t *testing.T, method jwt.SigningMethod, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(key))
	require.NoError(t, err)
	return s
}

func TestBearerAuthentication(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	disabledID, _ := a.createClient(false)
	exp := time.Now().Add(time.Hour).Unix()
	sub := "api_client:" + a.clientID
	const notAuth, badCreds = "Not authenticated", "Could not validate credentials"
	tests := []struct {
		name   string
		header string // "" drops the header
		status int
		detail string
	}{
		{"no header", "", 401, notAuth},
		{"basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte(a.clientID+":"+a.secret)), 401, notAuth},
		{"token without scheme", a.token, 401, notAuth},
		{"garbage token", "Bearer garbage", 401, badCreds},
		{"empty token", "Bearer ", 401, badCreds},
		{"expired", "Bearer " + mustMint(t, a.clientID, time.Now().Add(-2*time.Hour)), 401, badCreds},
		{"wrong key", "Bearer " + signed(t, jwt.SigningMethodHS256, "another-key-another-key-another-key", jwt.MapClaims{"sub": sub, "exp": exp}), 401, badCreds},
		{"wrong algorithm", "Bearer " + signed(t, jwt.SigningMethodHS512, testSecretKey, jwt.MapClaims{"sub": sub, "exp": exp}), 401, badCreds},
		{"alg none", "Bearer " + noneToken(t, sub, exp), 401, badCreds},
		{"no exp", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecretKey, jwt.MapClaims{"sub": sub}), 401, badCreds},
		{"sub without namespace", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecretKey, jwt.MapClaims{"sub": a.clientID, "exp": exp}), 401, badCreds},
		{"wrong namespace", "Bearer " + signed(t, jwt.SigningMethodHS256, testSecretKey, jwt.MapClaims{"sub": "user:" + a.clientID, "exp": exp}), 401, badCreds},
		{"unknown client", "Bearer " + a.tokenFor("id_nobody_"+uuid.NewString()[:8]), 401, badCreds},
		{"disabled client", "Bearer " + a.tokenFor(disabledID), 400, "API Client has been disabled"},
		{"lower-case scheme", "bearer " + a.token, 404, "Unknown email_id"},
		{"upper-case scheme", "BEARER " + a.token, 404, "Unknown email_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.on(t)
			opt := noAuth()
			if tc.header != "" {
				opt = withHeader("Authorization", tc.header)
			}
			r := a.do("GET", "/ctms/"+uuid.NewString(), nil, opt)
			requireDetail(t, r, tc.status, tc.detail)
			if tc.status == http.StatusUnauthorized {
				require.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
			} else {
				require.Empty(t, r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func mustMint(t *testing.T, clientID string, now time.Time) string {
	t.Helper()
	tok, err := auth.MintToken(testSecretKey, clientID, time.Hour, now)
	require.NoError(t, err)
	return tok
}

func noneToken(t *testing.T, sub string, exp int64) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": sub, "exp": exp}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	return s
}

// TestEveryEndpointRequiresBearer checks 401 and the disabled-client 400 on each
// authenticated operation (valid bodies, so authentication is what fails).
func TestEveryEndpointRequiresBearer(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	disabledID, _ := a.createClient(false)
	id, body := newContact()
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/ctms?primary_email=x", nil},
		{"POST", "/ctms", body},
		{"GET", "/ctms/" + id, nil},
		{"PUT", "/ctms/" + id, body},
		{"PATCH", "/ctms/" + id, obj{}},
		{"DELETE", "/ctms/x@example.com", nil},
		{"GET", "/updates?start=2020-01-01", nil},
		{"GET", "/identities?primary_email=x", nil},
		{"GET", "/identity/" + id, nil},
		{"GET", "/__crash__", nil},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			a := a.on(t)
			r := a.do(ep.method, ep.path, ep.body, noAuth())
			requireDetail(t, r, http.StatusUnauthorized, "Not authenticated")
			require.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
			r = a.do(ep.method, ep.path, ep.body, withHeader("Authorization", "Bearer x.y.z"))
			requireDetail(t, r, http.StatusUnauthorized, "Could not validate credentials")
			require.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))
			r = a.do(ep.method, ep.path, ep.body, withHeader("Authorization", "Bearer "+a.tokenFor(disabledID)))
			requireDetail(t, r, http.StatusBadRequest, "API Client has been disabled")
		})
	}
	a.noRows(id)
}
