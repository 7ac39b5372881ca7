package main

import (
	"os"
	"testing"

	"github.com/ctms-go/ctms/internal/testdb"
)

// TestMain drops the package's test database after the tests (testdb.Run) and removes the
// binary that buildCTMS compiled.
func TestMain(m *testing.M) {
	code := testdb.Run(m)
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
