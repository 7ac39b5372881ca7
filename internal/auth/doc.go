// Package auth holds the credential formats CTMS shares with the Python
// service: client secrets and their Argon2 hashes, the HS256 access tokens
// issued by POST /token, and the HTTP Basic header accepted there.
//
// Everything here is byte-compatible with the Python CTMS (argon2-cffi and
// PyJWT), so hashes stored by either implementation verify in the other and
// tokens minted by one are accepted by the other.
package auth
