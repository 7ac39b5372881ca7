package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgServer is the benchmark's private PostgreSQL server: a cluster made by initdb in a
// temporary directory, listening on a free loopback port and a unix socket in that
// directory, with pg_stat_statements loaded. Its own server means its processes are the
// benchmark's alone (their CPU is measured) and its statistics are the benchmark's.
type pgServer struct {
	bindir string
	dir    string // temporary directory: data/, the socket and the log
	port   int
	cred   *syscall.Credential // nil: run as ourselves; else the postgres account (initdb refuses root)
}

// pgSettings are appended to postgresql.conf. fsync and synchronous_commit stay on (the
// defaults): commits cost what they cost in production, for the service and the ceiling.
const pgSettings = `
# ctms-bench (cmd/ctms-bench/pgserver.go)
listen_addresses = '127.0.0.1'
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_planning = on
timezone = 'UTC'
`

// pgBinDir runs scripts/pgbin.sh: the directory of initdb, pg_ctl, postgres and pgbench.
func pgBinDir(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pgbin.sh")) // #nosec G204 -- the repository's own script
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pgbin.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startPG creates and starts the private server with sharedBuffers of shared_buffers
// (each database's hot pages must fit: with a baseline there are two).
func startPG(ctx context.Context, bindir, sharedBuffers string) (*pgServer, error) {
	dir, err := os.MkdirTemp("", "ctms-bench-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{bindir: bindir, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root: PostgreSQL must run as the postgres account: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil { // #nosec G115 -- ids from the user database
			return nil, err
		}
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	data := s.dataDir()
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := pgSettings + fmt.Sprintf("shared_buffers = %s\nport = %d\nunix_socket_directories = '%s'\n", sharedBuffers, s.port, dir)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0) // #nosec G304 -- our own cluster
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if out, err := s.run(ctx, "pg_ctl", "start", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-w", "-t", "60"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(filepath.Join(dir, "postgres.log"), 20))
	}
	return s, nil
}

func (s *pgServer) dataDir() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's programs as the server's account.
func (s *pgServer) run(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bindir, prog), args...) // #nosec G204 -- PostgreSQL's own programs
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// url is the TCP URL of database name (the service and pgbench both connect over TCP).
func (s *pgServer) url(name string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// postmasterPID is the first line of postmaster.pid.
func (s *pgServer) postmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// stop stops the server and removes its directory (keep: leaves both, and says how to stop).
func (s *pgServer) stop(keep bool) {
	if keep {
		logf("kept the PostgreSQL server: %s (stop it with: %s/pg_ctl stop -D %s)", s.url("postgres"), s.bindir, s.dataDir())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := s.run(ctx, "pg_ctl", "stop", "-D", s.dataDir(), "-m", "fast", "-w"); err != nil {
		logf("pg_ctl stop: %v\n%s", err, out)
		return
	}
	if err := os.RemoveAll(s.dir); err != nil {
		logf("remove %s: %v", s.dir, err)
	}
}
