package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWaitlistFieldsCommands(t *testing.T) {
	setupClients(t)

	// Seeded with the Python CTMS's rules.
	r := runCLI(t, "", "waitlist-fields", "list")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, "Waitlist field rules:\n"+
		"- *.geo: string or null; max length 100\n"+
		"- *.platform: string or null; max length 100\n"+
		"- relay.geo: string or null; max length 100; other fields forbidden\n"+
		"- vpn.geo: string or null; max length 100; other fields forbidden\n"+
		"- vpn.platform: string or null; max length 100; other fields forbidden\n", r.out)

	r = runCLI(t, "", "waitlist-fields", "set", "beta", "color", "--allowed", "red,blue", "--pattern", "^[a-z]+$", "--max-length", "10")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, "✅ Set rule for field 'color' of waitlist 'beta': string or null; max length 10; pattern '^[a-z]+$'; one of red, blue.\n", r.out)
	r = runCLI(t, "", "waitlist-fields", "list")
	require.Contains(t, r.out, "- beta.color: string or null; max length 10; pattern '^[a-z]+$'; one of red, blue\n")

	// Setting again replaces the rule.
	r = runCLI(t, "", "waitlist-fields", "set", "beta", "color", "--forbid-extra")
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLI(t, "", "waitlist-fields", "list")
	require.Contains(t, r.out, "- beta.color: string or null; other fields forbidden\n")

	r = runCLI(t, "", "waitlist-fields", "set", "beta", "color", "--pattern", "([")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.errOut, "Error: Invalid value for '--pattern'")
	r = runCLI(t, "", "waitlist-fields", "set", "beta", "color", "--max-length", "-1")
	require.Equal(t, 2, r.code)

	r = runCLI(t, "n\n", "waitlist-fields", "delete", "beta", "color")
	require.Equal(t, 0, r.code)
	require.Equal(t, "Are you sure you want to delete the rule for field 'color' of waitlist 'beta'? [y/N]: Operation cancelled.\n", r.out)
	r = runCLI(t, "", "waitlist-fields", "delete", "beta", "color", "--yes")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, "✅ Deleted rule for field 'color' of waitlist 'beta'.\n", r.out)
	r = runCLI(t, "", "waitlist-fields", "delete", "beta", "color", "-y")
	require.Equal(t, 4, r.code)
	require.Equal(t, "No rule for field 'color' of waitlist 'beta'.\n", r.out)
}
