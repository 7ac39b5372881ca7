package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"
)

// Namespace is the only subject namespace CTMS issues and accepts
// ("sub": "api_client:<client_id>").
const Namespace = "api_client"

var (
	// ErrBadToken covers every token that does not verify: malformed, wrong
	// algorithm or signature, expired, without exp, or without a "ns:id"
	// subject. Logged as auth_fail "No or bad token".
	ErrBadToken = errors.New("auth: no or bad token")
	// ErrBadNamespace is a valid token whose subject namespace is not
	// "api_client". Logged as auth_fail "Bad namespace".
	ErrBadNamespace = errors.New("auth: bad namespace")
)

// tokenHeader is what PyJWT emits for HS256: keys sorted, compact separators.
const tokenHeader = `{"alg":"HS256","typ":"JWT"}` // #nosec G101 -- a JWT header, not a credential

var encodedHeader = base64.RawURLEncoding.EncodeToString([]byte(tokenHeader))

// MintToken returns the access token for clientID, byte-identical to the one
// the Python CTMS issues at the same instant: header {"alg":"HS256","typ":"JWT"}
// and payload {"sub":"api_client:<id>","exp":<floor(now+ttl) in Unix seconds>},
// compact JSON with non-ASCII escaped as Python's json.dumps does.
func MintToken(secretKey, clientID string, ttl time.Duration, now time.Time) (string, error) {
	exp := now.Add(ttl).Unix() // Unix() floors to whole seconds
	payload := `{"sub":` + pyJSONString(Namespace+":"+clientID) + `,"exp":` + strconv.FormatInt(exp, 10) + `}`
	signing := encodedHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(secretKey))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParseToken verifies token and returns the client id from its subject.
// HS256 is the only algorithm accepted, exp is required and must be strictly
// after now (no leeway), nbf is honoured when present, a token carrying an
// audience is refused (as PyJWT does when none is expected), and sub must be
// a string "namespace:client_id". Errors wrap ErrBadToken, except a wrong
// namespace: ErrBadNamespace, returned together with the client id.
func ParseToken(secretKey, token string, now time.Time) (clientID string, err error) {
	return ParseTokenExpiringBy(secretKey, token, now, time.Time{})
}

// ParseTokenExpiringBy is ParseToken, also refusing (ErrBadToken) a token
// whose exp is after latest, unless latest is zero.
func ParseTokenExpiringBy(secretKey, token string, now, latest time.Time) (clientID string, err error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims jwt.RegisteredClaims
	if _, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		return []byte(secretKey), nil
	}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if !latest.IsZero() && claims.ExpiresAt.After(latest) {
		return "", fmt.Errorf("%w: expires too late", ErrBadToken)
	}
	if len(claims.Audience) > 0 {
		return "", fmt.Errorf("%w: unexpected audience", ErrBadToken)
	}
	namespace, id, ok := strings.Cut(claims.Subject, ":")
	if !ok {
		return "", fmt.Errorf("%w: subject is not namespace:id", ErrBadToken)
	}
	if namespace != Namespace {
		return id, ErrBadNamespace
	}
	return id, nil
}

// pyJSONString encodes s like Python's json.dumps (ensure_ascii=True): ", \,
// control characters, DEL and everything non-ASCII are escaped, the latter as
// \uXXXX (UTF-16 surrogate pairs above U+FFFF). Unlike encoding/json it
// leaves <, > and & alone.
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r <= 0xffff):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
