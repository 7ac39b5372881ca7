package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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

// createDatabase creates database name on the private server and migrates it with the
// built binary.
func createDatabase(ctx context.Context, pg *pgServer, name, bin, secretKey string) (string, error) {
	conn, err := pgx.Connect(ctx, pg.url("postgres"))
	if err != nil {
		return "", err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	_ = conn.Close(context.Background()) // the statement's error is the one that matters
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	dbURL := pg.url(name)
	if out, err := runCTMS(ctx, bin, dbURL, secretKey, "migrate"); err != nil {
		return "", fmt.Errorf("bin/ctms migrate: %w\n%s", err, out)
	}
	return dbURL, nil
}

// runCTMS runs a bin/ctms command on the benchmark's database.
func runCTMS(ctx context.Context, bin, dbURL, secretKey string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...) // #nosec G204 -- the binary just built
	// The deletion hash key (`ctms migrate` requires one) is the secret key: a bench database.
	cmd.Env = append(os.Environ(), "CTMS_DB_URL="+dbURL, "CTMS_SECRET_KEY="+secretKey,
		"CTMS_DELETION_HASH_KEY="+secretKey, "CTMS_LOGGING_LEVEL=WARNING")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

var clientSecretRE = regexp.MustCompile(`Client Secret: (\S+)`)

// createAdminClient creates an API client with `ctms clients create` (a real argon2 hash
// of a fresh secret), grants it the role admin, and returns its secret.
func createAdminClient(ctx context.Context, bin, dbURL, secretKey, clientID string) (string, error) {
	out, err := runCTMS(ctx, bin, dbURL, secretKey, "clients", "create", clientID, "bench@example.com")
	if err != nil {
		return "", fmt.Errorf("ctms clients create: %w", err) // its output holds the secret: not printed
	}
	m := clientSecretRE.FindStringSubmatch(out)
	if m == nil {
		return "", errors.New("ctms clients create printed no client secret")
	}
	if out, err := runCTMS(ctx, bin, dbURL, secretKey, "clients", "grant", clientID, "admin"); err != nil {
		return "", fmt.Errorf("ctms clients grant: %w\n%s", err, out)
	}
	return m[1], nil
}

// issueToken is a real POST /token with client credentials: the server verifies the
// secret against its argon2 hash (the memory cost the peak-RSS target is about).
func issueToken(ctx context.Context, base, clientID, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /token: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("POST /token: status %d (%v)", resp.StatusCode, err)
	}
	return body.AccessToken, nil
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
	Tools       string // wrk and pgbench versions
}

func describeMachine(ctx context.Context, dbURL, pgbench string) (machine, error) {
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
	for _, name := range []string{"max_connections", "shared_buffers", "fsync", "synchronous_commit", "shared_preload_libraries", "jit"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err == nil {
			settings = append(settings, name+"="+v)
		}
	}
	m.PGSettings = strings.Join(settings, ", ")
	size, overflow := envOr("CTMS_DB_POOL_SIZE", "5"), envOr("CTMS_DB_MAX_OVERFLOW", "10")
	m.ServerPool = fmt.Sprintf("CTMS_DB_POOL_SIZE=%s + CTMS_DB_MAX_OVERFLOW=%s", size, overflow)
	var tools []string
	for _, t := range [][]string{{"wrk", "-v"}, {pgbench, "--version"}} {
		out, _ := exec.CommandContext(ctx, t[0], t[1]).CombinedOutput() // #nosec G204 -- fixed tools; wrk -v exits 1
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if i := strings.Index(line, " Copyright"); i > 0 {
			line = line[:i]
		}
		tools = append(tools, strings.TrimSpace(line))
	}
	m.Tools = strings.Join(tools, "; ")
	return m, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
