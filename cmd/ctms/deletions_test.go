package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/store"
)

// tombstone inserts a tombstone deleted at the given time; it returns its email_id.
func (b *clientsBundle) tombstone(t *testing.T, at time.Time) string {
	t.Helper()
	id := uuid.NewString()
	_, err := b.pool.Exec(t.Context(), `INSERT INTO deletion_tombstones
		(email_id, deleted_at, primary_email_sha256, deleted_by) VALUES ($1, $2, repeat('0', 64), 'database')`, id, at)
	require.NoError(t, err)
	return id
}

func (b *clientsBundle) tombstones(t *testing.T) []string {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT email_id::text FROM deletion_tombstones ORDER BY deleted_at`)
	require.NoError(t, err)
	ids := []string{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func TestDeletionsPurge(t *testing.T) {
	b := setupClients(t)
	now := time.Now().UTC()
	old := b.tombstone(t, now.Add(-100*24*time.Hour))
	month := b.tombstone(t, now.Add(-40*24*time.Hour))
	recent := b.tombstone(t, now.Add(-time.Hour))

	// The default retention: 90 days.
	r := runCLI(t, "", "deletions", "purge")
	require.Equal(t, 0, r.code, r.errOut)
	require.Regexp(t, `^Removed 1 deletion tombstone\(s\) older than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.\n$`, r.out)
	require.Equal(t, []string{month, recent}, b.tombstones(t), "not %s", old)

	t.Setenv("CTMS_DELETIONS_RETENTION", "P30D")
	r = runCLI(t, "", "deletions", "purge")
	require.Equal(t, 0, r.code, r.errOut)
	require.Contains(t, r.out, "Removed 1 deletion tombstone(s)")
	require.Equal(t, []string{recent}, b.tombstones(t))

	r = runCLI(t, "", "deletions", "purge", "--older-than", "60")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, []string{}, b.tombstones(t))

	// 0 used to keep tombstones forever: it is refused, like any retention that is not positive.
	t.Setenv("CTMS_DELETIONS_RETENTION", "0")
	b.tombstone(t, now.Add(-1000*24*time.Hour))
	r = runCLI(t, "", "deletions", "purge")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "CTMS_DELETIONS_RETENTION must be positive")
	require.Len(t, b.tombstones(t), 1)

	r = runCLI(t, "", "deletions", "purge", "--older-than", "soon")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.errOut, "Error: Invalid value for '--older-than'")

	t.Setenv("CTMS_DELETIONS_RETENTION", "-5")
	r = runCLI(t, "", "deletions", "purge")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "CTMS_DELETIONS_RETENTION must be positive")
}

// The server's periodic purge applies the retention at once, then every interval.
func TestDeletionsPurgeLoop(t *testing.T) {
	b := setupClients(t)
	now := time.Now().UTC()
	b.tombstone(t, now.Add(-2*time.Hour))
	kept := b.tombstone(t, now.Add(-time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		purgeDeletions(ctx, store.New(b.pool), time.Hour, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	require.Eventually(t, func() bool { return len(b.tombstones(t)) == 1 }, 5*time.Second, 10*time.Millisecond)
	b.tombstone(t, now.Add(-3*time.Hour)) // purged by a later round
	require.Eventually(t, func() bool { return len(b.tombstones(t)) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{kept}, b.tombstones(t))
	cancel()
	<-done
}

// `ctms migrate` refuses to run without CTMS_DELETION_HASH_KEY (or _FILE), or with one
// too short, and installs it: the tombstones' hashes are then HMAC-SHA256 under it, as a
// consumer computes them with crypto/hmac; a new key applies to later deletions.
func TestMigrateInstallsDeletionHashKey(t *testing.T) {
	b := setupClients(t)
	hashOf := func(key, email string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(strings.ToLower(email))) // ASCII addresses: lower-casing A-Z is enough
		return hex.EncodeToString(m.Sum(nil))
	}
	deleted := func(email string) string {
		id := uuid.NewString()
		b.exec(t, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, email)
		b.exec(t, `DELETE FROM emails WHERE email_id = $1`, id)
		var h *string
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT primary_email_sha256 FROM deletion_tombstones WHERE email_id = $1`, id).Scan(&h))
		require.NotNil(t, h)
		return *h
	}

	t.Setenv("CTMS_DELETION_HASH_KEY", "")
	r := runCLI(t, "", "migrate")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "CTMS_DELETION_HASH_KEY (or CTMS_DELETION_HASH_KEY_FILE) is required")
	t.Setenv("CTMS_DELETION_HASH_KEY", "too-short")
	r = runCLI(t, "", "migrate")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.errOut, "CTMS_DELETION_HASH_KEY must be at least 32 bytes long")

	first := "first-deletion-hash-key-of-this-test-0123"
	t.Setenv("CTMS_DELETION_HASH_KEY", first)
	r = runCLI(t, "", "migrate")
	require.Equal(t, 0, r.code, r.errOut)
	require.Contains(t, r.errOut, "deletion hash key installed")
	require.Equal(t, hashOf(first, "jane@example.com"), deleted("Jane@Example.com"))
	r = runCLI(t, "", "migrate")
	require.Equal(t, 0, r.code, r.errOut)
	require.NotContains(t, r.errOut, "deletion hash key installed", "the same key: nothing changed")

	second := "second-deletion-hash-key-of-this-test-456"
	file := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(file, []byte(second+"\n"), 0o600))
	t.Setenv("CTMS_DELETION_HASH_KEY", "")
	os.Unsetenv("CTMS_DELETION_HASH_KEY") //nolint:errcheck // t.Setenv restores it
	t.Setenv("CTMS_DELETION_HASH_KEY_FILE", file)
	r = runCLI(t, "", "migrate")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, hashOf(second, "jane@example.com"), deleted("jane@example.com"))
}
