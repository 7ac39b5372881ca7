package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctms-go/ctms/internal/testdb"
)

// privatePG is a PostgreSQL server of the test's own, which it can stop and start.
type privatePG struct {
	bindir, base, data string
	port               int
	runAs              string // the account the server runs as when the test runs as root
}

// pgBindir finds the PostgreSQL server binaries through scripts/pgbin.sh.
func pgBindir(t *testing.T) string {
	t.Helper()
	dir, err := testdb.PGBinDir(0)
	if err != nil {
		t.Fatalf("this test runs a PostgreSQL of its own to stop and start: %v", err)
	}
	return dir
}

// startPrivatePG creates a cluster in a temporary directory and starts it on a free
// port of 127.0.0.1 (trust authentication, no unix socket, no fsync); it is stopped
// and removed when the test ends. initdb refuses to run as root: as root, the server
// runs as `postgres` (or `ctms-pg`, the account scripts/pg.sh creates).
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	p := &privatePG{bindir: pgBindir(t), port: freePort(t)}
	if os.Geteuid() == 0 {
		for _, name := range []string{"postgres", "ctms-pg"} {
			if _, err := user.Lookup(name); err == nil {
				p.runAs = name
				break
			}
		}
		if p.runAs == "" {
			t.Fatal("running as root, and neither a `postgres` nor a `ctms-pg` account exists to run PostgreSQL (scripts/pg.sh start creates one)")
		}
	}
	base, err := os.MkdirTemp("", "ctms-pg-test-")
	if err != nil {
		t.Fatal(err)
	}
	// The server's account must be able to create the data directory in it.
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	p.base, p.data = base, filepath.Join(base, "data")
	t.Cleanup(func() {
		_, _ = p.run("pg_ctl", "stop", "-D", p.data, "-m", "immediate", "-w")
		_ = os.RemoveAll(base)
	})
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start(t)
	return p
}

// run runs a PostgreSQL program (as the server's account when there is one).
func (p *privatePG) run(prog string, args ...string) (string, error) {
	path := filepath.Join(p.bindir, prog)
	var cmd *exec.Cmd
	if p.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/" // the account may not reach the test's directory
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *privatePG) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k '' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50", p.port)
	if out, err := p.run("pg_ctl", "start", "-D", p.data, "-l", filepath.Join(p.base, "postgres.log"), "-w", "-t", "60", "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.base, "postgres.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the server the way an operator or a failing host does: fast shutdown
// (sessions terminated, in-flight transactions rolled back).
func (p *privatePG) stop(t *testing.T) {
	t.Helper()
	if out, err := p.run("pg_ctl", "stop", "-D", p.data, "-m", "fast", "-w", "-t", "60"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (p *privatePG) url(db string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s", p.port, db)
}

// logTail is the end of the server's log, for failure messages.
func (p *privatePG) logTail() string {
	log, _ := os.ReadFile(filepath.Join(p.base, "postgres.log"))
	return tail(strings.TrimSpace(string(log)), 2000)
}
