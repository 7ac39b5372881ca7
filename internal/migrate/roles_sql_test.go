package migrate_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/migrate"
)

// deploy/postgres/roles.sql, run as docs/operations.md#database-roles says (before and
// after `ctms migrate`), gives the service (ctms_app) contacts and API clients' last access
// to write and nothing else, the admin commands (ctms_admin) the rows of every table but
// the owner's, and tombstones to neither. The login roles get names of this test (roles
// belong to the whole cluster, which other tests share); the group ctms_trusted is the
// script's own.
func TestRolesSQL(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile("../../deploy/postgres/roles.sql")
	require.NoError(t, err)
	suffix := "_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10]
	migrator, app, admin, syncer := "ctms_migrate"+suffix, "ctms_app"+suffix, "ctms_admin"+suffix, "ctms_sync"+suffix
	script := strings.NewReplacer("ctms_migrate", migrator, "ctms_app", app, "ctms_admin", admin, "ctms_sync", syncer).Replace(string(src))

	db := emptyDatabase(t)
	for _, role := range []string{migrator, app, admin, syncer} {
		t.Cleanup(func() {
			_, _ = db.Exec(ctx, `DROP OWNED BY `+role)
			_, _ = db.Exec(ctx, `DROP ROLE IF EXISTS `+role)
		})
	}
	run(t, db, script) // before the first `ctms migrate`: no tables yet
	asMigrator := connectAs(t, db, migrator)
	require.NoError(t, migrate.Up(ctx, asMigrator, nil))
	run(t, asMigrator, `SELECT ctms_deletion_hash_key_set($1)`, []byte(exampleHashKey))
	run(t, db, script) // after it
	run(t, db, script) // idempotent
	asApp, asAdmin := connectAs(t, db, app), connectAs(t, db, admin)

	denied := func(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, sql)
		require.Equal(t, "42501", pgErr.Code, "%s: %s", sql, pgErr.Message)
	}
	clientID := "id_roles" + suffix
	run(t, asAdmin, `INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ($1, 'a@example.com', true, 'x')`, clientID)
	run(t, asAdmin, `INSERT INTO roles (name) VALUES ($1)`, "role"+suffix)
	run(t, asAdmin, `INSERT INTO waitlist_field_rules (waitlist, field, max_length) VALUES ('w', 'f', 10)`)
	run(t, asAdmin, `SELECT ctms_purge_deletion_tombstones(now() - interval '90 days')`)

	t.Run("Service", func(t *testing.T) {
		id := uuid.NewString()
		run(t, asApp, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, id+"@example.com")
		run(t, asApp, `INSERT INTO newsletters (email_id, name) VALUES ($1, 'n')`, id)
		run(t, asApp, `UPDATE emails SET first_name = 'Jo' WHERE email_id = $1`, id)
		run(t, asApp, `UPDATE api_client SET last_access = now(), update_timestamp = now() WHERE client_id = $1`, clientID)
		deleteContact(t, asApp, id, "id_service")
		got := tombstonesOf(t, asApp, id)
		require.Len(t, got, 1)
		require.Equal(t, "id_service", got[0].by, "the service's role is trusted")
		require.NotNil(t, got[0].primary)
		require.Equal(t, consumerHash(exampleHashKey, id+"@example.com"), *got[0].primary)
		run(t, asApp, `SELECT ctms_purge_deletion_tombstones(now() - interval '90 days')`)

		denied(t, asApp, `INSERT INTO api_client (client_id, email, enabled, hashed_secret) VALUES ('id_x', 'x@example.com', true, 'x')`)
		denied(t, asApp, `UPDATE api_client SET enabled = false WHERE client_id = $1`, clientID)
		denied(t, asApp, `UPDATE api_client SET hashed_secret = 'y' WHERE client_id = $1`, clientID)
		denied(t, asApp, `DELETE FROM api_client WHERE client_id = $1`, clientID)
		denied(t, asApp, `INSERT INTO roles (name) VALUES ('r')`)
		denied(t, asApp, `INSERT INTO permissions (name) VALUES ('p')`)
		denied(t, asApp, `DELETE FROM api_client_roles`)
		denied(t, asApp, `DELETE FROM role_permissions`)
		denied(t, asApp, `DELETE FROM waitlist_field_rules`)
		denied(t, asApp, `INSERT INTO deletion_tombstones (email_id, deleted_at, primary_email_sha256, deleted_by) VALUES ($1, now(), '', 'x')`, uuid.NewString())
		denied(t, asApp, `DELETE FROM deletion_tombstones`)
		denied(t, asApp, `SELECT * FROM deletion_hash_key`)
		denied(t, asApp, `SELECT * FROM deletion_fxa_pending`)
		denied(t, asApp, `SELECT ctms_deletion_hmac('a@example.com')`)
		denied(t, asApp, `CREATE TABLE x (i int)`)
	})
	t.Run("Owner", func(t *testing.T) { // a deployment with one role: it is trusted too
		id := uuid.NewString()
		run(t, asMigrator, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, id+"@example.com")
		deleteContact(t, asMigrator, id, "id_owner")
		got := tombstonesOf(t, asMigrator, id)
		require.Len(t, got, 1)
		require.Equal(t, "id_owner", got[0].by)
	})
	t.Run("Syncer", func(t *testing.T) { // ctms sync: its own state, nothing else
		asSync := connectAs(t, db, syncer)
		id := uuid.NewString()
		run(t, asAdmin, `INSERT INTO braze_subscription_groups (newsletter, subscription_group_id, title) VALUES ('n', $1, 'N')`, uuid.NewString())
		run(t, asSync, `SELECT count(*) FROM emails`)
		run(t, asSync, `SELECT count(*) FROM braze_subscription_groups`)
		run(t, asSync, `INSERT INTO braze_sync_cursor (feed, position_ts, position_id) VALUES ('roles', now(), $1)`, id)
		run(t, asSync, `INSERT INTO braze_sync_contacts (email_id) VALUES ($1)`, id)
		run(t, asSync, `DELETE FROM braze_sync_contacts WHERE email_id = $1`, id)
		for range 2 { // the second takes the ON CONFLICT path of BrazeInFlightSet (sql/queries/braze_sync.sql)
			run(t, asSync, `INSERT INTO braze_sync_in_flight (email_ids, sent_at) VALUES (ARRAY[$1::uuid], now())
				ON CONFLICT (singleton) DO UPDATE SET email_ids = excluded.email_ids, sent_at = excluded.sent_at`, id)
		}
		run(t, asSync, `DELETE FROM braze_sync_in_flight`)
		run(t, asSync, `UPDATE braze_sync_contacts SET repair_at = now() WHERE email_id = $1`, id)
		denied(t, asSync, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, id+"@example.com")
		denied(t, asSync, `DELETE FROM braze_subscription_groups`)
		denied(t, asSync, `UPDATE api_client SET last_access = now()`)
		denied(t, asSync, `SELECT * FROM deletion_hash_key`)
		denied(t, asSync, `CREATE TABLE x (i int)`)
	})
	t.Run("Admin", func(t *testing.T) {
		denied(t, asAdmin, `INSERT INTO deletion_tombstones (email_id, deleted_at, primary_email_sha256, deleted_by) VALUES ($1, now(), '', 'x')`, uuid.NewString())
		denied(t, asAdmin, `DELETE FROM deletion_tombstones`)
		denied(t, asAdmin, `SELECT * FROM deletion_hash_key`)
		denied(t, asAdmin, `SELECT ctms_deletion_hash_key_set('x')`)
		denied(t, asAdmin, `CREATE TABLE x (i int)`)
	})
}
