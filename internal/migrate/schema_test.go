package migrate_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/migrate"
	"github.com/ctms-go/ctms/internal/testdb"
)

// referenceSchema is pg_dump's view of a Python CTMS database at alembic head, kept in the
// repository as test data so that a clone tests on its own.
const referenceSchema = "testdata/schema-alembic-head.sql"

// TestSchemaMatchesAlembicHead dumps a database migrated to version 1 and compares it,
// statement by statement, with the dump of the Python CTMS schema: they must be equal.
func TestSchemaMatchesAlembicHead(t *testing.T) {
	want := referenceStatements(t)
	pool := emptyDatabase(t)
	require.NoError(t, migrate.UpTo(context.Background(), pool, nil, 1))
	got := dumpStatements(dumpSchema(t, pool.Config().ConnString()))

	missing, extra := difference(want, got), difference(got, want)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("schema at migration 1 differs from %s\n\nmissing (in the reference, not in ours):\n%s\n\n"+
			"extra (in ours, not in the reference):\n%s",
			referenceSchema, strings.Join(missing, "\n\n"), strings.Join(extra, "\n\n"))
	}
}

// TestLaterMigrationsKeepPythonSchema checks the fully migrated schema: later migrations may
// add objects of their own (tables, their indexes, even foreign keys to Python tables) but must
// not change, drop or add to the Python CTMS's tables, which it may still use. The
// exceptions are the access tables' notify triggers (notifyTrigger) and allowedOnPythonTables
// (the write-start marker and the deletion tombstone triggers).
func TestLaterMigrationsKeepPythonSchema(t *testing.T) {
	want := referenceStatements(t)
	dump := dumpSchema(t, testdb.NewDatabase(t))
	got := dumpStatements(dump)
	require.Contains(t, strings.Join(strings.Fields(dump), " "),
		"CREATE FUNCTION public.ctms_notify_access_change() RETURNS trigger LANGUAGE plpgsql "+
			"SET search_path TO 'pg_catalog', 'pg_temp' AS $$ "+ // sql/migrations/00008_database_hardening.sql
			"BEGIN PERFORM pg_notify('ctms_access', TG_TABLE_NAME); RETURN NULL; END $$;",
		"the notify triggers' function may only send a notification")

	pythonTables := map[string]bool{}
	for _, stmt := range want {
		if m := subjectTable.FindStringSubmatch(stmt); m != nil && strings.HasPrefix(stmt, "CREATE TABLE") {
			pythonTables[m[1]] = true
		}
	}
	var changed []string
	for _, stmt := range difference(got, want) {
		if notifyTrigger.MatchString(stmt) {
			continue
		}
		if m := subjectTable.FindStringSubmatch(stmt); m != nil && pythonTables[m[1]] && !allowedOnPythonTables[stmt] {
			changed = append(changed, stmt)
		}
	}
	missing := difference(want, got)
	if len(missing) > 0 || len(changed) > 0 {
		t.Errorf("later migrations change the Python CTMS schema\n\nmissing (in %s, not in ours):\n%s\n\n"+
			"added to Python tables:\n%s",
			referenceSchema, strings.Join(missing, "\n\n"), strings.Join(changed, "\n\n"))
	}
}

// notifyTrigger matches the triggers of sql/migrations/00004_access_notify.sql: AFTER triggers
// whose function only sends a notification (checked above), so they leave what the Python CTMS
// reads and writes unchanged.
var notifyTrigger = regexp.MustCompile(`^CREATE TRIGGER \w+ AFTER [A-Z ]+ ON public\.\w+ FOR EACH (?:ROW|STATEMENT)` +
	`(?: WHEN \(.*\))? EXECUTE FUNCTION public\.ctms_notify_access_change\(\);$`)

// allowedOnPythonTables are the statements later migrations may add to Python tables: the
// statement trigger of sql/migrations/00006_write_start_marker.sql, which changes no row and
// no column (it takes an advisory lock that the /updates guard reads), so the Python CTMS runs
// unchanged, and its writes are guarded too; and the row trigger of
// sql/migrations/00007_write_time.sql (its WHEN since sql/migrations/00011_write_path_speed.sql),
// which only raises an update_timestamp the writer took from its clock (now() and later) to
// its transaction's write time (at most milliseconds later), so that a late commit is not
// lost to /updates.
var allowedOnPythonTables = map[string]bool{
	"CREATE TRIGGER emails_mark_write_start BEFORE INSERT OR UPDATE ON public.emails FOR EACH STATEMENT EXECUTE FUNCTION public.ctms_mark_write_start();":                                                                                                                                            true,
	"CREATE TRIGGER emails_stamp_write_time BEFORE INSERT OR UPDATE ON public.emails FOR EACH ROW WHEN (((new.update_timestamp >= now()) AND (new.update_timestamp < (current_setting('ctms.write_time'::text))::timestamp with time zone))) EXECUTE FUNCTION public.ctms_stamp_update_timestamp();": true,
	"CREATE TRIGGER deletion_tombstone_write AFTER DELETE ON public.emails FOR EACH ROW EXECUTE FUNCTION public.deletion_tombstone_write();":                                                                                                                                                         true,
	"CREATE TRIGGER deletion_fxa_remember AFTER DELETE ON public.fxa FOR EACH ROW EXECUTE FUNCTION public.deletion_fxa_remember();":                                                                                                                                                                  true,
}

// subjectTable finds the table a dumped statement defines or alters.
var subjectTable = regexp.MustCompile(`^(?:CREATE TABLE|ALTER TABLE(?: ONLY)?|CREATE (?:UNIQUE )?INDEX \S+ ON(?: ONLY)?|` +
	`CREATE (?:CONSTRAINT )?TRIGGER .*? ON|CREATE POLICY \S+ ON|CREATE RULE \S+ AS .*? TO) public\.("[^"]+"|\w+)`)

func referenceStatements(t *testing.T) []string {
	t.Helper()
	ref, err := os.ReadFile(referenceSchema)
	if err != nil {
		t.Fatalf("reference schema: %v", err)
	}
	stmts := dumpStatements(string(ref))
	require.Greater(t, len(stmts), 50, "the reference should hold the whole schema")
	return stmts
}

func dumpSchema(t *testing.T, url string) string {
	t.Helper()
	pgDump := findPgDump(t, url)
	out, err := exec.Command(pgDump, "--schema-only", "--no-owner", "--dbname", url).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", pgDump, err, stderr)
	}
	return string(out)
}

// dumpStatements splits a pg_dump script into normalised statements, sorted, leaving out
// what does not describe the schema: comments, SET and set_config lines, psql meta-commands
// (\restrict), ownership, and goose's own version table.
func dumpStatements(dump string) []string {
	var stmts []string
	var cur []string
	for line := range strings.SplitSeq(dump, "\n") {
		line = strings.TrimRight(line, " \t\r")
		trimmed := strings.TrimSpace(line)
		if len(cur) == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--") ||
			strings.HasPrefix(trimmed, `\`) || strings.HasPrefix(trimmed, "SET ") ||
			strings.HasPrefix(trimmed, "SELECT pg_catalog.set_config(")) {
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur = append(cur, line)
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, strings.Join(cur, "\n"))
	}
	stmts = slices.DeleteFunc(stmts, func(s string) bool {
		return ownerStmt.MatchString(s) || strings.Contains(s, "goose_db_version")
	})
	slices.Sort(stmts)
	return stmts
}

var ownerStmt = regexp.MustCompile(`(?s)^ALTER .* OWNER TO .*;$`)

// difference returns the elements of a not in b, counting duplicates (both sorted).
func difference(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) {
		switch {
		case j >= len(b) || a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			j++
		default:
			i++
			j++
		}
	}
	return out
}

// findPgDump picks the pg_dump of the server's major version, else the highest installed
// when it is newer (pg_dump refuses older servers only); scripts/pgbin.sh finds them.
func findPgDump(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	var versionNum int
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&versionNum)
	_ = conn.Close(ctx)
	require.NoError(t, err)
	major := versionNum / 10000

	dir, err := testdb.PGBinDir(major)
	if err != nil {
		dir, err = testdb.PGBinDir(0)
	}
	if err != nil {
		t.Fatalf("pg_dump for PostgreSQL %d: %v", major, err)
	}
	if m, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir))); m != 0 && m < major {
		t.Fatalf("pg_dump for PostgreSQL %d: only PostgreSQL %d is installed (%s); install postgresql-%d", major, m, dir, major)
	}
	return filepath.Join(dir, "pg_dump")
}
