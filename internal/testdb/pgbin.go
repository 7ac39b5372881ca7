package testdb

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// PGBinDir returns the directory of the PostgreSQL server binaries (initdb, pg_ctl,
// postgres, pgbench, and the client programs beside them) for tests that run programs of
// their own. scripts/pgbin.sh finds them, the one place that does: with major > 0 that
// major version only, else the highest installed, which it installs when missing (root).
func PGBinDir(major int) (string, error) {
	script, err := pgbinScript()
	if err != nil {
		return "", err
	}
	args := []string{}
	if major > 0 {
		args = append(args, strconv.Itoa(major))
	}
	cmd := exec.Command(script, args...) // #nosec G204 -- the repository's own script, a numeric argument
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// pgbinScript finds scripts/pgbin.sh above the working directory (a test runs in its
// package's directory).
func pgbinScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "pgbin.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/pgbin.sh not found above the working directory")
		}
		dir = parent
	}
}
