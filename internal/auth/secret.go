package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 parameters of new hashes: the argon2-cffi defaults (RFC 9106 "low
// memory" profile) that the Python CTMS uses.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 3
	argonThreads = 4
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read from a stored hash. The lower bounds are the
// reference implementation's (libargon2 rejects anything below them); the
// upper ones keep a corrupt or hostile row from exhausting the process: a hash
// outside them is refused without being computed. They leave room for every
// hash the Python CTMS or `ctms clients` writes (64–100 MiB, t 2–3, p 4–8).
const (
	minSaltLen = 8
	minKeyLen  = 4
	maxKeyLen  = 1024
	maxMemory  = 256 * 1024 // KiB = 256 MiB
	maxTime    = 10
	maxThreads = 16
)

// ErrInvalidHash reports a stored value that is not an Argon2 PHC string this
// package can verify. The /token handler answers it like a wrong secret.
var ErrInvalidHash = errors.New("auth: invalid argon2 hash")

// NewSecret returns a new client secret: "secret_" followed by 32 random bytes
// in unpadded URL-safe base64 (50 characters), as the Python CLI generates them.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate secret: %w", err)
	}
	return "secret_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret hashes a client secret for storage in api_client.hashed_secret:
// Argon2id v19 with argon2-cffi's default parameters and a random 16-byte salt,
// encoded as a PHC string (standard base64 alphabet, no padding).
func HashSecret(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: generate salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifySecret reports whether secret matches the stored PHC string, using the
// variant and parameters recorded in it. A stored value that cannot be parsed,
// or whose parameters are out of bounds, returns an error wrapping
// ErrInvalidHash without computing anything. It runs at once: request handlers
// go through a Verifier, which bounds how many run together.
func VerifySecret(secret, phc string) (bool, error) {
	h, err := parseHash(phc)
	if err != nil {
		return false, err
	}
	return h.matches(secret), nil
}

// b64 is the PHC string encoding: standard alphabet, no padding, and (like
// libargon2's decoder) no stray bits in the last character.
var b64 = base64.RawStdEncoding.Strict()

type argonHash struct {
	variant        string // "argon2id" or "argon2i"
	memory, time   uint32
	threads        uint8
	salt, expected []byte
}

func (h *argonHash) matches(secret string) bool {
	var key []byte
	keyLen := uint32(len(h.expected)) // #nosec G115 -- parseHash bounds it by maxKeyLen
	if h.variant == "argon2id" {
		key = argon2.IDKey([]byte(secret), h.salt, h.time, h.memory, h.threads, keyLen)
	} else {
		key = argon2.Key([]byte(secret), h.salt, h.time, h.memory, h.threads, keyLen)
	}
	return subtle.ConstantTimeCompare(key, h.expected) == 1
}

// parseHash reads "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>" (or the
// legacy "$argon2i$" variant). Only version 19 exists in x/crypto/argon2.
func parseHash(phc string) (*argonHash, error) {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidHash, why) }
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return nil, bad("not a PHC string")
	}
	h := &argonHash{variant: parts[1]}
	if h.variant != "argon2id" && h.variant != "argon2i" {
		return nil, bad("unsupported variant")
	}
	if parts[2] != "v=19" {
		return nil, bad("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, bad("malformed parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok || v == "" || strings.TrimLeft(v, "0123456789") != "" {
			return nil, bad("malformed parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, bad("malformed parameters")
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	switch {
	case p < 1:
		return nil, bad("unsupported parallelism")
	case p > maxThreads:
		return nil, bad("parallelism too large")
	case t < 1:
		return nil, bad("time cost too small")
	case t > maxTime:
		return nil, bad("time cost too large")
	case m < 8*p:
		return nil, bad("memory cost too small")
	case m > maxMemory:
		return nil, bad("memory cost too large")
	}
	h.memory, h.time, h.threads = uint32(m), uint32(t), uint8(p) // #nosec G115 -- parsed as 32-bit values, p at most maxThreads
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < minSaltLen {
		return nil, bad("malformed salt")
	}
	if h.expected, err = b64.DecodeString(parts[5]); err != nil || len(h.expected) < minKeyLen || len(h.expected) > maxKeyLen {
		return nil, bad("malformed hash")
	}
	return h, nil
}
