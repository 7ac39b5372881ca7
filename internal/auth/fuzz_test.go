package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzNow = time.Unix(1700000000, 0)

// requireGenuine fails unless tok, which ParseToken accepted as naming id, is
// one the key signed: checked here without the JWT library (HS256 in the
// header, an HMAC-SHA256 of header.payload under the key, an exp after now, a
// "namespace:id" subject).
func requireGenuine(t *testing.T, key, tok, id string, parseErr error) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d parts: %q", len(parts), tok)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("accepted a token not signed with the key: %q", tok)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Sub *string         `json:"sub"`
		Exp json.RawMessage `json:"exp"`
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(rawHeader, &header) != nil || json.Unmarshal(rawClaims, &claims) != nil {
		t.Fatalf("accepted a token whose header or claims do not decode: %q", tok)
	}
	if header.Alg != "HS256" {
		t.Fatalf("accepted alg %q: %q", header.Alg, tok)
	}
	// exp is a number, or a string holding one (as the JWT library reads it).
	exp, err := strconv.ParseFloat(strings.Trim(string(claims.Exp), `"`), 64)
	if err != nil || exp < float64(fuzzNow.Unix()) {
		t.Fatalf("accepted a token without exp or expired: %q", tok)
	}
	if claims.Sub == nil {
		t.Fatalf("accepted a token without sub: %q", tok)
	}
	ns, subID, ok := strings.Cut(*claims.Sub, ":")
	if !ok || subID != id || (parseErr == nil) != (ns == Namespace) {
		t.Fatalf("sub %q, got id %q and error %v", *claims.Sub, id, parseErr)
	}
}

// FuzzParseToken: whatever the input, ParseToken does not panic and accepts
// only tokens the key signed.
func FuzzParseToken(f *testing.F) {
	const hs256 = `{"alg":"HS256","typ":"JWT"}`
	good := `{"sub":"api_client:id_test","exp":1700003600}`
	valid, err := MintToken(testKey, "id_test", time.Hour, fuzzNow)
	if err != nil {
		f.Fatal(err)
	}
	for _, tok := range []string{
		valid, pyToken,
		sign(hs256, `{"sub":"user:id_test","exp":1700003600}`, sha256.New, testKey),
		sign(hs256, `{"sub":"api_client:id:with:colons","exp":1700003600.5,"nbf":1600000000}`, sha256.New, testKey),
		sign(hs256, `{"sub":"api_client:id_test","exp":"1700003600"}`, sha256.New, testKey),
		sign(hs256, `{"sub":"api_client:id_test","exp":1e400}`, sha256.New, testKey),
		sign(hs256, `{"sub":"api_client:id_test","exp":1700003600,"aud":["a"]}`, sha256.New, testKey),
		sign(`{"alg":"none"}`, good, nil, ""),
		sign(`{"alg":"HS384","typ":"JWT"}`, good, sha512.New384, testKey),
		sign(`{"alg":"RS256","typ":"JWT"}`, good, sha256.New, testKey),
		sign(`{"alg":"hs256"}`, good, sha256.New, testKey),
		sign(`{"alg":"HS256","alg":"none"}`, good, sha256.New, testKey),
		sign(`{"alg":"HS256","kid":"../../etc/passwd","jku":"http://x"}`, good, sha256.New, testKey),
		sign(hs256, good, sha256.New, testKey+"x"),
		sign(hs256, good, sha256.New, ""),
		valid + "=", valid + ".", strings.ReplaceAll(valid, "-", "+"), "." + valid, strings.ToUpper(valid),
		"", ".", "..", "...", "a.b.c", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("A", 5000),
	} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := ParseToken(testKey, tok, fuzzNow)
		if err != nil && !errors.Is(err, ErrBadNamespace) {
			if !errors.Is(err, ErrBadToken) || id != "" {
				t.Fatalf("error %v (id %q) is neither ErrBadToken nor ErrBadNamespace", err, id)
			}
			return
		}
		requireGenuine(t, testKey, tok, id, err)
	})
}

// FuzzParseTokenTampered: a token minted for any client id parses back to that
// id; with any one byte changed it is refused unless still validly signed (a
// change in the unused low bits of the signature's last character); signed with
// another key it is refused.
func FuzzParseTokenTampered(f *testing.F) {
	for _, id := range []string{"id_test", "id_a:b", "id_ünïcode_😀", `id_"quoted"\`, ""} {
		f.Add(id, uint16(0), byte('x'), "")
		f.Add(id, uint16(20), byte('A'), "other")
		f.Add(id, uint16(60), byte('.'), "x")
		f.Add(id, uint16(65535), byte('_'), testKey)
	}
	f.Add("0", uint16(60), byte(0x8a), "\x00") // the same key for HMAC
	f.Add("0", uint16(60), byte(0x8a), strings.Repeat("\x00", 40))
	f.Fuzz(func(t *testing.T, clientID string, pos uint16, b byte, otherKey string) {
		tok, err := MintToken(testKey, clientID, time.Hour, fuzzNow)
		if err != nil {
			t.Fatal(err)
		}
		id, err := ParseToken(testKey, tok, fuzzNow)
		if utf8.ValidString(clientID) && (err != nil || id != clientID) {
			t.Fatalf("minted for %q, parsed as %q, %v", clientID, id, err)
		}

		mutated := []byte(tok)
		mutated[int(pos)%len(mutated)] = b
		if string(mutated) != tok {
			if id, err := ParseToken(testKey, string(mutated), fuzzNow); err == nil || errors.Is(err, ErrBadNamespace) {
				requireGenuine(t, testKey, string(mutated), id, err)
			}
		}

		// HMAC pads short keys with zeros: a key that is ours plus NULs is ours.
		if key := testKey + otherKey; len(key) > sha256.BlockSize || strings.TrimRight(key, "\x00") != testKey {
			other, err := MintToken(key, clientID, time.Hour, fuzzNow)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseToken(testKey, other, fuzzNow); !errors.Is(err, ErrBadToken) {
				t.Fatalf("a token signed with another key was not refused: %v", err)
			}
		}
	})
}
