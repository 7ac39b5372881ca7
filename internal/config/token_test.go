package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenSettings(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", MinSecretKeyLength)
	env := map[string]string{"CTMS_DB_URL": "postgresql://db/ctms", "CTMS_SECRET_KEY": key}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := LoadFrom(lookup)
	require.NoError(t, err)
	require.Empty(t, c.SecretKeyPrevious)
	require.Empty(t, c.TrustedProxies)
	require.Equal(t, DefaultTokenFailuresPerAddress, c.TokenFailuresPerAddress)

	env["CTMS_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.168.1.7 fd00::/8,::ffff:172.16.0.0/108,\t2001:db8::1"
	env["CTMS_TOKEN_FAILURES_PER_ADDRESS"] = "500"
	env["CTMS_SECRET_KEY_PREVIOUS"] = key + "old"
	c, err = LoadFrom(lookup)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("2001:db8::1/128")}, c.TrustedProxies)
	require.Equal(t, 500, c.TokenFailuresPerAddress)
	require.Equal(t, key+"old", c.SecretKeyPrevious)
	require.NoError(t, c.ValidateForServing())

	env["CTMS_SECRET_KEY_PREVIOUS"] = "short"
	c, err = LoadFrom(lookup)
	require.NoError(t, err)
	require.ErrorContains(t, c.ValidateForServing(), "CTMS_SECRET_KEY_PREVIOUS must be at least 32 bytes")

	env["CTMS_TRUSTED_PROXIES"] = "10.0.0.0/8,proxy.internal"
	env["CTMS_TOKEN_FAILURES_PER_ADDRESS"] = "0"
	_, err = LoadFrom(lookup)
	require.ErrorContains(t, err, `CTMS_TRUSTED_PROXIES must be a list of addresses or CIDRs (192.0.2.10, 2001:db8::/64), got "proxy.internal"`)
	require.ErrorContains(t, err, "CTMS_TOKEN_FAILURES_PER_ADDRESS must be at least 1")
}
