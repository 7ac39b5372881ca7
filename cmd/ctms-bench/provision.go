package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctms-go/ctms/internal/auth"
)

const modulePath = "github.com/ctms-go/ctms"

// repoRoot is the directory of the module's go.mod, searched upwards from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && // #nosec G304 -- looking for the repository root
			bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run ctms-bench inside the ctms repository (go run ./cmd/ctms-bench, or make bench)")
		}
		dir = parent
	}
}

// buildServer compiles bin/ctms from the working tree, as `make build` does.
func buildServer(ctx context.Context, root string) (string, error) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	bin := filepath.Join(root, "bin", "ctms")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./cmd/ctms") // #nosec G204 G702 -- the go command building this repository
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build -o bin/ctms ./cmd/ctms: %w", err)
	}
	return bin, nil
}

// adminURL finds the PostgreSQL server the way scripts/test.sh does: CTMS_BENCH_DB_URL,
// CTMS_TEST_DB_URL, 127.0.0.1:5432 as postgres when it answers, else the private server
// of scripts/pg.sh (installed and started on demand).
func adminURL(ctx context.Context, root string) (string, error) {
	for _, name := range []string{"CTMS_BENCH_DB_URL", "CTMS_TEST_DB_URL"} {
		if v := os.Getenv(name); v != "" {
			return v, nil
		}
	}
	local := "postgresql://postgres@127.0.0.1:5432/postgres"
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(pingCtx, local+"?connect_timeout=2"); err == nil {
		err = conn.Ping(pingCtx)
		_ = conn.Close(context.Background()) // only the ping matters
		if err == nil {
			return local, nil
		}
	}
	logf("no PostgreSQL on 127.0.0.1:5432: starting the private server (scripts/pg.sh url)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pg.sh"), "url") // #nosec G204 -- the repository's own script
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh url: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// withDatabase returns the admin URL pointing at database name.
func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redactURL hides a password in a URL for printing.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// database is one benchmark database.
type database struct {
	name string
	url  string
}

// provision creates database name, registers its drop in cleanup (unless keep) and
// migrates it with the built binary.
func provision(ctx context.Context, admin, name, bin, secretKey string, cleanup *cleanups, keep bool) (*database, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(admin), err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	_ = conn.Close(context.Background()) // the statement's error is the one that matters
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	d := &database{name: name}
	if d.url, err = withDatabase(admin, name); err != nil {
		return nil, err
	}
	if keep {
		cleanup.add(func() { logf("kept database %s (%s)", name, redactURL(d.url)) })
	} else {
		cleanup.add(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, admin)
			if err != nil {
				logf("drop %s: %v", name, err)
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
				logf("drop %s: %v", name, err)
			}
		})
	}
	cmd := exec.CommandContext(ctx, bin, "migrate")
	cmd.Env = append(os.Environ(), "CTMS_DB_URL="+d.url, "CTMS_SECRET_KEY="+secretKey, "CTMS_LOGGING_LEVEL=WARNING")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bin/ctms migrate on %s: %w\n%s", name, err, out.String())
	}
	logf("created and migrated %s", name)
	return d, nil
}

// createAdminClient inserts an enabled API client holding the seeded role "admin",
// with a real argon2 hash (its secret is never used: tokens are minted directly).
func createAdminClient(ctx context.Context, dbURL, clientID string) error {
	secret, err := auth.NewSecret()
	if err != nil {
		return err
	}
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `INSERT INTO api_client (client_id, email, enabled, hashed_secret)
		VALUES ($1, $2, true, $3)`, clientID, clientID+"@example.com", hash); err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	tag, err := conn.Exec(ctx, `INSERT INTO api_client_roles (api_client_id, role_id)
		SELECT $1, id FROM roles WHERE name = 'admin'`, clientID)
	if err != nil {
		return fmt.Errorf("grant role admin: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("grant role admin: the migrations did not seed the role 'admin'")
	}
	return nil
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs        int
	CPUModel    string
	MemTotal    string
	Kernel      string
	GoVersion   string
	PGVersion   string
	PGSettings  string
	ServerPool  string
	LoadAverage string
}

func describeMachine(ctx context.Context, dbURL string) (machine, error) {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				_, _ = fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb) // 0 when unreadable: the report says so
				m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(data))
		if len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return m, err
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&m.PGVersion); err != nil {
		return m, err
	}
	if i := strings.Index(m.PGVersion, " on "); i > 0 {
		m.PGVersion = m.PGVersion[:i]
	}
	var settings []string
	for _, name := range []string{"max_connections", "shared_buffers", "fsync", "synchronous_commit"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err == nil {
			settings = append(settings, name+"="+v)
		}
	}
	m.PGSettings = strings.Join(settings, ", ")
	size, overflow := envOr("CTMS_DB_POOL_SIZE", "5"), envOr("CTMS_DB_MAX_OVERFLOW", "10")
	m.ServerPool = fmt.Sprintf("CTMS_DB_POOL_SIZE=%s + CTMS_DB_MAX_OVERFLOW=%s", size, overflow)
	return m, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
