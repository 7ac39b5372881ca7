package httpapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
)

// A verified token is remembered until it expires, never beyond; tokens that
// failed verification are not remembered.
func TestVerifiedTokensExpire(t *testing.T) {
	t.Parallel()
	const key = "test-secret-key-that-is-long-enough-for-hs256"
	s := &server{cfg: &config.Config{SecretKey: key}}
	now := time.Now()
	token, err := auth.MintToken(key, "client_a", time.Minute, now)
	require.NoError(t, err)

	id, err := s.parseToken(token, now)
	require.NoError(t, err)
	require.Equal(t, "client_a", id)
	id, ok := s.tokens.get(token, now.Add(30*time.Second))
	require.True(t, ok)
	require.Equal(t, "client_a", id)

	expiry := now.Add(time.Minute).Truncate(time.Second) // exp is in whole seconds
	_, ok = s.tokens.get(token, expiry)
	require.False(t, ok, "exp must be strictly after now")
	_, err = s.parseToken(token, expiry.Add(time.Second))
	require.ErrorIs(t, err, auth.ErrBadToken)

	other, err := auth.MintToken("another-secret-key-that-is-long-enough!!", "client_b", time.Minute, now)
	require.NoError(t, err)
	_, err = s.parseToken(other, now)
	require.ErrorIs(t, err, auth.ErrBadToken)
	_, ok = s.tokens.get(other, now)
	require.False(t, ok)
}

// CTMS_SECRET_KEY_PREVIOUS verifies only the tokens issued by the time the
// rotation was rolled out, taken as CTMS_TOKEN_EXPIRATION after this process
// started: after twice that, it verifies nothing even if left set. Tokens of
// the current key are not bounded so.
func TestPreviousKeyTokensBounded(t *testing.T) {
	t.Parallel()
	const oldKey, newKey = "the-old-secret-key-that-is-long-enough-for-hs256", "the-new-secret-key-that-is-long-enough-for-hs256"
	now := time.Now()
	s := &server{cfg: &config.Config{SecretKey: newKey, SecretKeyPrevious: oldKey, TokenExpiration: time.Hour},
		started: now.Add(-90 * time.Minute)} // the rollout ended (at the latest) 30 minutes ago
	mint := func(key string, issued time.Time) string {
		token, err := auth.MintToken(key, "client_a", time.Hour, issued)
		require.NoError(t, err)
		return token
	}
	_, err := s.verifyToken(mint(oldKey, now.Add(-40*time.Minute)), now)
	require.NoError(t, err, "issued before the rollout ended")
	_, err = s.verifyToken(mint(oldKey, now.Add(-20*time.Minute)), now)
	require.ErrorIs(t, err, auth.ErrBadToken, "issued after the rollout ended")
	_, err = s.verifyToken(mint(newKey, now), now)
	require.NoError(t, err)

	s.started = now.Add(-3 * time.Hour)
	_, err = s.verifyToken(mint(oldKey, now.Add(-time.Minute)), now)
	require.ErrorIs(t, err, auth.ErrBadToken, "twice the lifetime after the start, the previous key verifies nothing")
}
