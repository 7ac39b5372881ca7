package testdb

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPGBinDir(t *testing.T) {
	dir, err := PGBinDir(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"initdb", "pg_ctl", "postgres", "pgbench"} {
		if _, err := os.Stat(filepath.Join(dir, prog)); err != nil {
			t.Errorf("PGBinDir(0) = %s: %v", dir, err)
		}
	}
	if dir, err := PGBinDir(1); err == nil {
		t.Errorf("PGBinDir(1) = %s, want an error (there is no PostgreSQL 1)", dir)
	}
}
