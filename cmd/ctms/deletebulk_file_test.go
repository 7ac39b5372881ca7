package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// CTMS_CLIENT_SECRET_FILE gives delete-bulk its client secret from a file (a Docker or
// Kubernetes secret), without its trailing line break, as the _FILE variables of the
// service do (internal/config).
func TestDeleteBulkSecretFile(t *testing.T) {
	s := newDeleteBulkServer(t)
	target := s.addr("from-file")
	id := s.createContact(t, target, false)
	file := filepath.Join(t.TempDir(), "client_secret")
	require.NoError(t, os.WriteFile(file, []byte(s.secret+"\n"), 0o600))
	t.Setenv("CTMS_CLIENT_SECRET", "")
	t.Setenv("CTMS_CLIENT_SECRET_FILE", file)

	r := runCLI(t, "", "delete-bulk", "--email", target)
	require.Equal(t, cliResult{code: 0, out: "DELETING " + target + " (ctms id: " + id + ").\n" +
		"TOMBSTONES " + target + ": " + id + ".\n"}, r)
	require.Equal(t, contactGone, s.rows(t, id))

	// Both set, or a file that cannot be read: an error naming the variables, not the secret.
	t.Setenv("CTMS_CLIENT_SECRET", s.secret)
	r = runCLI(t, "", "delete-bulk", "--email", target)
	require.Equal(t, cliResult{code: 1, errOut: "Error: CTMS_CLIENT_SECRET and CTMS_CLIENT_SECRET_FILE are both set: set only one\n"}, r)
	t.Setenv("CTMS_CLIENT_SECRET", "")
	t.Setenv("CTMS_CLIENT_SECRET_FILE", file+".missing")
	r = runCLI(t, "", "delete-bulk", "--email", target)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "Error: CTMS_CLIENT_SECRET_FILE cannot be read: ")
	require.NotContains(t, r.errOut, s.secret)
	// An empty file is no secret.
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	t.Setenv("CTMS_CLIENT_SECRET_FILE", empty)
	r = runCLI(t, "", "delete-bulk", "--email", target)
	require.Equal(t, cliResult{code: 1, errOut: "Error: the environment variable CTMS_CLIENT_SECRET is required\n"}, r)
}
