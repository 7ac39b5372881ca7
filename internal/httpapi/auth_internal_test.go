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
