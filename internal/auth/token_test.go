package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testKey = "some-secret-key-for-tests-0123456789"

// Produced once with PyJWT 2.6.0:
// jwt.encode({"sub": "api_client:id_test", "exp": <datetime 1700003600.999999>}, testKey, algorithm="HS256")
const pyToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcGlfY2xpZW50OmlkX3Rlc3QiLCJleHAiOjE3MDAwMDM2MDB9.i9Tiz2dwZmM3_tmIQm-4JdJQmwkoi-grF4wcnZ7Zv5U"

var mintNow = time.Unix(1700000000, 999999000)

func TestMintTokenMatchesPyJWT(t *testing.T) {
	t.Parallel()
	tok, err := MintToken(testKey, "id_test", time.Hour, mintNow)
	require.NoError(t, err)
	require.Equal(t, pyToken, tok)

	// PyJWT 2.6.0 with a subject that needs escaping (ensure_ascii JSON).
	tok, err = MintToken(testKey, "id_ü<&>\x7f😀\"\\", time.Hour, time.Unix(1700000000, 0))
	require.NoError(t, err)
	require.Equal(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."+
		"eyJzdWIiOiJhcGlfY2xpZW50OmlkX1x1MDBmYzwmPlx1MDA3Zlx1ZDgzZFx1ZGUwMFwiXFwiLCJleHAiOjE3MDAwMDM2MDB9."+
		"2CIQ82C0w8QW-u6_nVW0ZVfUqmkS9kXbueKavplHRmQ", tok)

	parts := strings.Split(tok, ".")
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.Equal(t, `{"alg":"HS256","typ":"JWT"}`, string(header))
}

func TestMintTokenFloorsExp(t *testing.T) {
	t.Parallel()
	tok, err := MintToken(testKey, "id_x", 1500*time.Millisecond, time.Unix(100, 600_000_000))
	require.NoError(t, err)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	require.NoError(t, err)
	require.Equal(t, `{"sub":"api_client:id_x","exp":102}`, string(payload))
}

func TestParseTokenRoundTrip(t *testing.T) {
	t.Parallel()
	id, err := ParseToken(testKey, pyToken, time.Unix(1700003599, 999999999))
	require.NoError(t, err)
	require.Equal(t, "id_test", id)

	tok, err := MintToken(testKey, "id_a:b", time.Minute, mintNow)
	require.NoError(t, err)
	id, err = ParseToken(testKey, tok, mintNow)
	require.NoError(t, err)
	require.Equal(t, "id_a:b", id, "split at the first colon only")
}

// sign builds a token with arbitrary header and payload JSON.
func sign(header, payload string, newHash func() hash.Hash, key string) string {
	enc := base64.RawURLEncoding
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if newHash == nil {
		return si + "."
	}
	m := hmac.New(newHash, []byte(key))
	m.Write([]byte(si))
	return si + "." + enc.EncodeToString(m.Sum(nil))
}

func TestParseTokenRejects(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	const hs256 = `{"alg":"HS256","typ":"JWT"}`
	const good = `{"sub":"api_client:id_test","exp":1700003600}`
	for name, tok := range map[string]string{
		"AlgNone":       sign(`{"alg":"none","typ":"JWT"}`, good, nil, ""),
		"AlgNoneSigned": sign(`{"alg":"none","typ":"JWT"}`, good, sha256.New, testKey),
		"HS384":         sign(`{"alg":"HS384","typ":"JWT"}`, good, sha512.New384, testKey),
		"HS512":         sign(`{"alg":"HS512","typ":"JWT"}`, good, sha512.New, testKey),
		"RS256Header":   sign(`{"alg":"RS256","typ":"JWT"}`, good, sha256.New, testKey),
		// PyJWT 2.6.0 output for HS384 / HS512 with the same key.
		"PyHS384":        "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcGlfY2xpZW50OmlkX3Rlc3QiLCJleHAiOjE3MDAwMDM2MDB9.xKbnMN3z2cRH-9pJw-tXsGLZMi-C4sT5o9GwANVg76WYTEWWuuXzX13CLPbi2mFo",
		"PyHS512":        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcGlfY2xpZW50OmlkX3Rlc3QiLCJleHAiOjE3MDAwMDM2MDB9.3WCKj156VsUJ-sqLelWuzgvvuTiXbHXcprFAMxk6-YnPzcTACelGiWA2Vov9arhgJP56jS4wwx09oc-pHP9ktg",
		"PyNone":         "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhcGlfY2xpZW50OmlkX3Rlc3QiLCJleHAiOjE3MDAwMDM2MDB9.",
		"Expired":        sign(hs256, `{"sub":"api_client:id_test","exp":1699999999}`, sha256.New, testKey),
		"ExpiresNow":     sign(hs256, `{"sub":"api_client:id_test","exp":1700000000}`, sha256.New, testKey),
		"NoExp":          sign(hs256, `{"sub":"api_client:id_test"}`, sha256.New, testKey),
		"NotYetValid":    sign(hs256, `{"sub":"api_client:id_test","exp":1700003600,"nbf":1700000100}`, sha256.New, testKey),
		"Audience":       sign(hs256, `{"sub":"api_client:id_test","exp":1700003600,"aud":"x"}`, sha256.New, testKey),
		"NoSub":          sign(hs256, `{"exp":1700003600}`, sha256.New, testKey),
		"SubNotString":   sign(hs256, `{"sub":42,"exp":1700003600}`, sha256.New, testKey),
		"SubNoColon":     sign(hs256, `{"sub":"id_test","exp":1700003600}`, sha256.New, testKey),
		"WrongSignature": sign(hs256, good, sha256.New, testKey+"x"),
		"TamperedBody":   strings.Split(pyToken, ".")[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"api_client:id_admin","exp":1700003600}`)) + "." + strings.Split(pyToken, ".")[2],
		"Garbage":        "not.a.token",
		"Empty":          "",
		"TwoParts":       "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcGlfY2xpZW50OmlkX3Rlc3QiLCJleHAiOjE3MDAwMDM2MDB9",
		"PayloadNotJSON": sign(hs256, `nope`, sha256.New, testKey),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id, err := ParseToken(testKey, tok, now)
			require.ErrorIs(t, err, ErrBadToken)
			require.NotErrorIs(t, err, ErrBadNamespace)
			require.Empty(t, id)
		})
	}
}

func TestParseTokenBadNamespace(t *testing.T) {
	t.Parallel()
	tok := sign(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"user:id_test","exp":1700003600}`, sha256.New, testKey)
	id, err := ParseToken(testKey, tok, time.Unix(1700000000, 0))
	require.ErrorIs(t, err, ErrBadNamespace)
	require.NotErrorIs(t, err, ErrBadToken)
	require.Equal(t, "id_test", id)
}
