package migrate_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/migrate"
	"github.com/ctms-go/ctms/internal/testdb"
)

// The database objects of sql/migrations/00008_database_hardening.sql.

// beforeHardening is the last migration before 00008.
const beforeHardening = 6

// newRole creates a login role with a unique name (roles belong to the whole cluster) and
// drops it, and what it owns or was granted in db, at the end of the test.
func newRole(t *testing.T, db *pgxpool.Pool, prefix string) string {
	t.Helper()
	ctx := context.Background()
	role := prefix + "_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	run(t, db, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { // before the pool closes (LIFO)
		_, _ = db.Exec(ctx, `DROP OWNED BY `+role)
		_, _ = db.Exec(ctx, `DROP ROLE `+role)
	})
	return role
}

// trustedGroup makes the group role of the CTMS service and admin roles exist (roles.sql
// creates it; it outlives the test as it would in production: it is the same for every
// database of the cluster and only means something to members).
func trustedGroup(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	run(t, db, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ctms_trusted') THEN CREATE ROLE ctms_trusted NOLOGIN; END IF;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
}

func run(t *testing.T, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, sql string, args ...any) {
	t.Helper()
	_, err := db.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

// connectAs opens a pool on the database of db as role (trust authentication).
func connectAs(t *testing.T, db *pgxpool.Pool, role string) *pgxpool.Pool {
	t.Helper()
	cfg := db.Config().Copy()
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// newContact inserts a contact (and an FxA row when fxa is not empty); it returns its id.
func newContact(t *testing.T, db *pgxpool.Pool, email, fxa string) string {
	t.Helper()
	id := uuid.NewString()
	run(t, db, `INSERT INTO emails (email_id, primary_email) VALUES ($1, $2)`, id, email)
	if fxa != "" {
		run(t, db, `INSERT INTO fxa (email_id, fxa_id, primary_email) VALUES ($1, $2, $3)`, id, "fxa-"+id, fxa)
	}
	return id
}

// deleteContact deletes a contact as the Python CTMS does (children first, one
// transaction), after setting ctms.deleted_by when by is not empty.
func deleteContact(t *testing.T, db *pgxpool.Pool, id, by string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if by != "" {
		run(t, tx, `SELECT set_config('ctms.deleted_by', $1, true)`, by)
	}
	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists", "emails"} {
		run(t, tx, `DELETE FROM `+table+` WHERE email_id = $1`, id)
	}
	require.NoError(t, tx.Commit(ctx))
}

type tombstone struct {
	primary, fxa *string
	by           string
}

func tombstonesOf(t *testing.T, db *pgxpool.Pool, id string) []tombstone {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT nullif(primary_email_sha256, ''), fxa_primary_email_sha256, deleted_by
		FROM deletion_tombstones WHERE email_id = $1`, id)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tombstone, error) {
		var tb tombstone
		return tb, r.Scan(&tb.primary, &tb.fxa, &tb.by)
	})
	require.NoError(t, err)
	return out
}

// leastPrivilegeWriter is a role with only DELETE and SELECT on the contact tables (and
// what every role has by default: CONNECT, TEMP, USAGE on public).
func leastPrivilegeWriter(t *testing.T, db *pgxpool.Pool) (string, *pgxpool.Pool) {
	t.Helper()
	role := newRole(t, db, "ctms_lpw")
	run(t, db, `GRANT USAGE ON SCHEMA public TO `+role)
	run(t, db, `GRANT SELECT, DELETE ON emails, amo, fxa, mofo, newsletters, waitlists TO `+role)
	return role, connectAs(t, db, role)
}

// hijack replays the temporary-table attack on the tombstone trigger: the attacker shadows
// deletion_tombstones with a temporary table whose trigger grants it INSERT on api_client,
// then deletes a contact. It reports whether the grant happened and the contact's
// tombstones in the real table.
func hijack(t *testing.T, db *pgxpool.Pool) (escalated bool, tombs []tombstone) {
	t.Helper()
	ctx := context.Background()
	role, attacker := leastPrivilegeWriter(t, db)
	id := newContact(t, db, "victim-"+uuid.NewString()+"@example.com", "")

	conn, err := attacker.Acquire(ctx) // temporary objects live in one session
	require.NoError(t, err)
	defer conn.Release()
	for _, stmt := range []string{
		// The columns, and the key of the trigger's ON CONFLICT.
		`CREATE TEMP TABLE deletion_tombstones (email_id uuid, deleted_at timestamptz,
			primary_email_sha256 text, fxa_primary_email_sha256 text, deleted_by text,
			PRIMARY KEY (deleted_at, email_id))`,
		`CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			EXECUTE format('GRANT INSERT ON public.api_client TO %I', session_user);
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER escalate AFTER INSERT ON pg_temp.deletion_tombstones
			FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate()`,
	} {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	var canInsert bool
	require.NoError(t, db.QueryRow(ctx, `SELECT has_table_privilege($1, 'public.api_client', 'INSERT')`, role).Scan(&canInsert))
	require.False(t, canInsert, "the attacker starts without the privilege")

	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	_, err = tx.Exec(ctx, `DELETE FROM emails WHERE email_id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	require.NoError(t, db.QueryRow(ctx, `SELECT has_table_privilege($1, 'public.api_client', 'INSERT')`, role).Scan(&escalated))
	return escalated, tombstonesOf(t, db, id)
}

// A role with only DELETE on the contact tables cannot make the SECURITY DEFINER tombstone
// trigger run code of its own as the owner: the trigger's names are schema-qualified and
// its search_path puts pg_temp last. Before migration 8 the attack worked (and left no
// tombstone), which shows the replay is the real attack.
func TestTombstoneTriggerTempTableHijack(t *testing.T) {
	ctx := context.Background()
	t.Run("BeforeMigration8", func(t *testing.T) {
		db := emptyDatabase(t)
		require.NoError(t, migrate.UpTo(ctx, db, nil, beforeHardening))
		escalated, tombs := hijack(t, db)
		require.True(t, escalated, "the replay must reproduce the attack on migration 5's trigger")
		require.Empty(t, tombs)
	})
	t.Run("Latest", func(t *testing.T) {
		db := connect(t, testdb.NewDatabase(t))
		escalated, tombs := hijack(t, db)
		require.False(t, escalated, "the attacker's trigger ran as the owner")
		require.Len(t, tombs, 1, "the tombstone is written to public.deletion_tombstones")
		require.Equal(t, "database", tombs[0].by)
	})
}

// Every function of ours (not an extension's) has a fixed search_path: pg_catalog first,
// pg_temp last (functions of later migrations included).
func TestFunctionsHaveFixedSearchPath(t *testing.T) {
	db := connect(t, testdb.NewDatabase(t))
	rows, err := db.Query(context.Background(), `
		SELECT p.oid::regprocedure::text, coalesce(array_to_string(p.proconfig, ';'), '')
		FROM pg_proc p
		WHERE p.pronamespace = 'public'::regnamespace
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
		                  AND d.objid = p.oid AND d.deptype = 'e')
		ORDER BY 1`)
	require.NoError(t, err)
	type fn struct{ name, config string }
	fns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fn, error) {
		var f fn
		return f, r.Scan(&f.name, &f.config)
	})
	require.NoError(t, err)
	require.NotEmpty(t, fns)
	var bad []string
	for _, f := range fns {
		var path string
		for _, c := range strings.Split(f.config, ";") {
			if v, ok := strings.CutPrefix(c, "search_path="); ok {
				path = v
			}
		}
		if !strings.HasPrefix(path, "pg_catalog,") || !strings.HasSuffix(path, ", pg_temp") {
			bad = append(bad, f.name+" ("+f.config+")")
		}
	}
	require.Empty(t, bad, "functions without search_path = pg_catalog, …, pg_temp")
}

// The write-time marker is taken by three functions (sql/migrations/00011_write_path_speed.sql:
// a call would cost a second PL/pgSQL call per write): the same key, the same setting.
func TestWriteTimeMarkerCopiesAgree(t *testing.T) {
	db := connect(t, testdb.NewDatabase(t))
	lock := regexp.MustCompile(`(?s)IF NOT pg_catalog\.pg_try_advisory_xact_lock_shared\(.*?END IF;`)
	setting := regexp.MustCompile(`(?s)pg_catalog\.set_config\('ctms\.write_time',\s*pg_catalog\.to_char\(\S+ AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\.US'\) \|\| '\+00', true\)`)
	space := regexp.MustCompile(`\s+`)
	var first string
	for _, fn := range []string{"public.ctms_write_time()", "public.ctms_mark_write_start()", "public.deletion_tombstone_write()"} {
		var src string
		require.NoError(t, db.QueryRow(context.Background(), `SELECT prosrc FROM pg_proc WHERE oid = $1::regprocedure`, fn).Scan(&src))
		found := lock.FindString(src)
		require.NotEmpty(t, found, "%s takes the marker", fn)
		require.Regexp(t, setting, src, "%s keeps the write time in the setting", fn)
		found = space.ReplaceAllString(found, " ")
		if first == "" {
			first = found
		}
		require.Equal(t, first, found, "%s takes the marker as ctms_write_time() does", fn)
	}
}

// exampleHashKey and exampleHashes are the test vectors of docs/deployment.md#deletion-hash-key.
const exampleHashKey = "ctms-example-deletion-hash-key-0123456789"

var exampleHashes = map[string]string{
	"Jane.Doe@Example.COM":        "8ec1f7d3411448867782c199c44527253bf4c04e9a90f6c54c1c0d3e551a0e99",
	"Élodie.ÄNGSTRÖM@Exämple.ORG": "0e31f97d6ce0c14ee0197083a58d8bef2d5b6723dcd2b34fbb4bc1838e8afb91",
}

// consumerHash is what a consumer of /deletions computes, as docs/deployment.md says:
// HMAC-SHA256 of the UTF-8 address with A-Z lower-cased, in lower-case hex.
func consumerHash(key, address string) string {
	lowered := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, address)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(lowered))
	return hex.EncodeToString(m.Sum(nil))
}

// The tombstones' hashes are HMAC-SHA256 under the installed key, equal to what Go's
// crypto/hmac computes (keys longer than a block included), never the plain SHA-256.
func TestTombstoneHashesKeyed(t *testing.T) {
	db := connect(t, testdb.NewDatabase(t))
	for addr, want := range exampleHashes {
		require.Equal(t, want, consumerHash(exampleHashKey, addr), "the documented vector of %s", addr)
	}

	// No key installed (migrations applied without `ctms migrate`): no hashes, the deletion works.
	id := newContact(t, db, "nokey-"+uuid.NewString()+"@example.com", "fxa-"+uuid.NewString()+"@example.com")
	deleteContact(t, db, id, "")
	require.Equal(t, []tombstone{{by: "database"}}, tombstonesOf(t, db, id))

	for _, key := range []string{exampleHashKey, strings.Repeat("long key ", 12) /* 108 bytes: hashed first */} {
		var changed bool
		require.NoError(t, db.QueryRow(context.Background(), `SELECT ctms_deletion_hash_key_set($1)`, []byte(key)).Scan(&changed))
		require.True(t, changed)
		require.NoError(t, db.QueryRow(context.Background(), `SELECT ctms_deletion_hash_key_set($1)`, []byte(key)).Scan(&changed))
		require.False(t, changed, "the same key again changes nothing")

		for _, addr := range []string{"Jane.Doe@Example.COM", "Élodie.ÄNGSTRÖM@Exämple.ORG", "x" + uuid.NewString() + "@EXAMPLE.net"} {
			fxa := "FxA." + uuid.NewString() + "@Example.org"
			id := newContact(t, db, addr, fxa)
			deleteContact(t, db, id, "")
			got := tombstonesOf(t, db, id)
			require.Len(t, got, 1)
			require.NotNil(t, got[0].primary)
			require.Equal(t, consumerHash(key, addr), *got[0].primary, "%q under %q", addr, key)
			require.NotNil(t, got[0].fxa)
			require.Equal(t, consumerHash(key, fxa), *got[0].fxa)
			// The triggers hold ctms_deletion_hmac()'s expression (00011_write_path_speed.sql): the same hash.
			var fromFunction string
			require.NoError(t, db.QueryRow(context.Background(), `SELECT ctms_deletion_hmac($1)`, addr).Scan(&fromFunction))
			require.Equal(t, *got[0].primary, fromFunction)
			plain := sha256.Sum256([]byte(strings.ToLower(addr)))
			require.NotEqual(t, hex.EncodeToString(plain[:]), *got[0].primary)
			if key == exampleHashKey {
				if want, ok := exampleHashes[addr]; ok {
					require.Equal(t, want, *got[0].primary)
				}
			}
			run(t, db, `DELETE FROM deletion_tombstones WHERE email_id = $1`, id) // the addresses repeat
		}
	}
}

// Tombstones written before migration 8 hold plain SHA-256 hashes, which cannot be keyed
// without the addresses: the migration keeps the rows and drops their hashes.
func TestHardeningDropsPlainHashes(t *testing.T) {
	ctx := context.Background()
	db := emptyDatabase(t)
	require.NoError(t, migrate.UpTo(ctx, db, nil, beforeHardening))
	id := newContact(t, db, "old-"+uuid.NewString()+"@example.com", "oldfxa-"+uuid.NewString()+"@example.com")
	deleteContact(t, db, id, "id_old_client")
	var plain, plainFxa *string
	require.NoError(t, db.QueryRow(ctx, `SELECT primary_email_sha256, fxa_primary_email_sha256 FROM deletion_tombstones
		WHERE email_id = $1`, id).Scan(&plain, &plainFxa))
	require.NotNil(t, plain)
	require.NotNil(t, plainFxa)

	require.NoError(t, migrate.Up(ctx, db, nil))
	require.Equal(t, []tombstone{{by: "id_old_client"}}, tombstonesOf(t, db, id))
}

// Nothing but the owner writes tombstones or reads the key, whatever was granted before
// migration 8 or by default privileges to the tables it creates.
func TestHardeningRevokesTombstoneWrites(t *testing.T) {
	ctx := context.Background()
	db := emptyDatabase(t)
	require.NoError(t, migrate.UpTo(ctx, db, nil, beforeHardening))
	role := newRole(t, db, "ctms_grantee")
	run(t, db, `GRANT ALL ON ALL TABLES IN SCHEMA public TO `+role) // as roles.sql once did
	run(t, db, `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO `+role)
	run(t, db, `GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC`)
	require.NoError(t, migrate.Up(ctx, db, nil))

	for _, c := range []struct {
		table, privilege string
		want             bool
	}{
		{"deletion_tombstones", "SELECT", true},
		{"deletion_tombstones", "INSERT", false},
		{"deletion_tombstones", "UPDATE", false},
		{"deletion_tombstones", "DELETE", false},
		{"deletion_tombstones", "TRUNCATE", false},
		{"deletion_fxa_pending", "SELECT", false},
		{"deletion_fxa_pending", "INSERT", false},
		{"deletion_hash_key", "SELECT", false},
		{"deletion_hash_key", "UPDATE", false},
		{"emails", "DELETE", true}, // untouched
	} {
		var has bool
		require.NoError(t, db.QueryRow(ctx, `SELECT has_table_privilege($1, $2, $3)`, role, "public."+c.table, c.privilege).Scan(&has))
		require.Equal(t, c.want, has, "%s on %s", c.privilege, c.table)
	}
	for _, fn := range []string{"public.ctms_deletion_hmac(text)", "public.ctms_deletion_hash_key_set(bytea)"} {
		var has bool
		require.NoError(t, db.QueryRow(ctx, `SELECT has_function_privilege($1, $2, 'EXECUTE')`, role, fn).Scan(&has))
		require.False(t, has, "EXECUTE on %s: a hash oracle", fn)
	}
}

// ctms.deleted_by is recorded only for superusers and members of ctms_trusted (the service
// and admin roles); any other writer's deletions are 'database' whatever it sets. Only the
// same sessions may purge tombstones.
func TestDeletedByTrustedOnly(t *testing.T) {
	ctx := context.Background()
	db := connect(t, testdb.NewDatabase(t))
	trustedGroup(t, db)
	_, writer := leastPrivilegeWriter(t, db)
	service := newRole(t, db, "ctms_svc")
	run(t, db, `GRANT USAGE ON SCHEMA public TO `+service)
	run(t, db, `GRANT SELECT, DELETE ON emails, amo, fxa, mofo, newsletters, waitlists TO `+service)
	run(t, db, `GRANT ctms_trusted TO `+service)
	serviceDB := connectAs(t, db, service)
	var owner string
	require.NoError(t, db.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'deletion_tombstones'`).Scan(&owner))
	ownerMember := newRole(t, db, "ctms_owner_member")
	run(t, db, `GRANT USAGE ON SCHEMA public TO `+ownerMember)
	run(t, db, `GRANT SELECT, DELETE ON emails, amo, fxa, mofo, newsletters, waitlists TO `+ownerMember)
	run(t, db, `GRANT `+pgx.Identifier{owner}.Sanitize()+` TO `+ownerMember)
	ownerMemberDB := connectAs(t, db, ownerMember)

	for _, c := range []struct {
		name string
		db   *pgxpool.Pool
		want string
	}{
		{"PlainWriter", writer, "database"},
		{"TrustedMember", serviceDB, "id_honest"},
		{"OwnerMember", ownerMemberDB, "id_honest"},
		{"Superuser", db, "id_honest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := newContact(t, db, "by-"+uuid.NewString()+"@example.com", "")
			by := "id_honest"
			if c.want == "database" {
				by = "id_forged"
			}
			deleteContact(t, c.db, id, by)
			got := tombstonesOf(t, db, id)
			require.Len(t, got, 1)
			require.Equal(t, c.want, got[0].by)
		})
	}

	t.Run("Purge", func(t *testing.T) {
		run(t, db, `INSERT INTO deletion_tombstones (email_id, deleted_at, primary_email_sha256, deleted_by)
			VALUES ($1, now() - interval '1 year', '', 'database')`, uuid.NewString())
		var n int64
		err := writer.QueryRow(ctx, `SELECT ctms_purge_deletion_tombstones(now())`).Scan(&n)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%v", err)
		require.Equal(t, "42501", pgErr.Code, "insufficient_privilege")
		_, err = writer.Exec(ctx, `DELETE FROM deletion_tombstones`)
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "42501", pgErr.Code)

		require.NoError(t, serviceDB.QueryRow(ctx, `SELECT ctms_purge_deletion_tombstones(now() - interval '1 day')`).Scan(&n))
		require.GreaterOrEqual(t, n, int64(1))
		var left int
		require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM deletion_tombstones WHERE deleted_at < now() - interval '1 day'`).Scan(&left))
		require.Zero(t, left)
	})
}

// A tombstone is written at its transaction's write time (migration 7: when it took the
// write-start marker), not at the transaction's start, as the rows it deletes would be.
func TestTombstoneAtWriteTime(t *testing.T) {
	ctx := context.Background()
	db := connect(t, testdb.NewDatabase(t))
	id := newContact(t, db, "at-"+uuid.NewString()+"@example.com", "")
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	var started time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT now() FROM pg_sleep(0.05)`).Scan(&started))
	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists"} {
		_, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE email_id = $1`, id)
		require.NoError(t, err)
	}
	_, err = tx.Exec(ctx, `DELETE FROM emails WHERE email_id = $1`, id)
	require.NoError(t, err)
	var writeTime, deletedAt time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT current_setting('ctms.write_time')::timestamptz,
		(SELECT deleted_at FROM deletion_tombstones WHERE email_id = $1)`, id).Scan(&writeTime, &deletedAt))
	require.True(t, writeTime.After(started), "the marker is taken by the DELETE, after the transaction began")
	require.Equal(t, writeTime, deletedAt)
	require.NoError(t, tx.Commit(ctx))
}

// A writer cannot backdate its tombstones: ctms.write_time is a setting any session may set,
// so a tombstone is written no earlier than its transaction (as migration 7's stamping made
// sure), whatever the setting says; /deletions consumers past that time would miss it.
func TestTombstoneNotBackdated(t *testing.T) {
	ctx := context.Background()
	db := connect(t, testdb.NewDatabase(t))
	_, writer := leastPrivilegeWriter(t, db)
	id := newContact(t, db, "back-"+uuid.NewString()+"@example.com", "")
	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	var started time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT now() FROM set_config('ctms.write_time', '2000-01-01 00:00:00+00', true)`).Scan(&started))
	for _, table := range []string{"amo", "fxa", "mofo", "newsletters", "waitlists", "emails"} {
		_, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE email_id = $1`, id)
		require.NoError(t, err, table)
	}
	require.NoError(t, tx.Commit(ctx))
	var deletedAt time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT deleted_at FROM deletion_tombstones WHERE email_id = $1`, id).Scan(&deletedAt))
	require.False(t, deletedAt.Before(started), "tombstone at %s, before its transaction began (%s)", deletedAt, started)
}
