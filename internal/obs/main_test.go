package obs_test

import (
	"os"
	"testing"

	"github.com/ctms-go/ctms/internal/testdb"
)

// TestMain drops the package's test database after the tests (testdb.Run).
func TestMain(m *testing.M) { os.Exit(testdb.Run(m)) }
