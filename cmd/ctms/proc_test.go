package main

// Helpers of the tests that run the real binary (serve_test.go, outage_test.go):
// build it, run `ctms serve` as a child process, create an API client through the
// CLI, and run requests against it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const procSecretKey = "serve-test-secret-key-0123456789abcdef"

// built is the binary of buildCTMS, compiled once per test binary (a build takes a minute
// on a busy machine) and removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	err  error
}

// buildCTMS compiles ./cmd/ctms (this package) into a temporary directory, once.
func buildCTMS(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "ctms-bin-"); built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(built.dir, "ctms"), ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "ctms")
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveProc is a running `ctms serve`.
type serveProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	out  syncBuffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

// serveEnv is the environment of the binary: the test's environment without any
// CTMS_ setting, plus the given ones.
func serveEnv(settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "CTMS_") && !strings.HasPrefix(kv, "PORT=") && !strings.HasPrefix(kv, "HOST=") {
			env = append(env, kv)
		}
	}
	return append(env, settings...)
}

// startServe runs `ctms serve` with env and waits until /__lbheartbeat__ answers.
func startServe(t *testing.T, bin string, port int, env []string) *serveProc {
	t.Helper()
	p := launchServe(t, bin, port, env)
	p.waitReady(t, 30*time.Second)
	return p
}

// launchServe runs `ctms serve` with env (killed at the end of the test).
func launchServe(t *testing.T, bin string, port int, env []string) *serveProc {
	t.Helper()
	p := &serveProc{base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("ctms serve output (last 4000 bytes):\n%s", tail(p.out.String(), 4000))
		}
	})
	return p
}

// waitReady waits until /__lbheartbeat__ answers 200, for at most timeout.
func (p *serveProc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(p.base + "/__lbheartbeat__")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("ctms serve exited: %v\n%s", p.err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctms serve did not answer within %s\n%s", timeout, p.out.String())
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var secretLine = regexp.MustCompile(`Client Secret: (\S+)`)

// createAdminClient creates an API client with the admin role through the CLI
// (so its secret is hashed as in production); it returns its id and secret.
func createAdminClient(t *testing.T, bin string, env []string, id string) string {
	t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ctms %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	m := secretLine.FindStringSubmatch(run("clients", "create", id, "owner@example.com"))
	if m == nil {
		t.Fatal("ctms clients create printed no secret")
	}
	run("clients", "grant", id, "admin")
	return m[1]
}

// apiClient sends requests to a serveProc.
type apiClient struct {
	base  string
	http  *http.Client
	token string
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, http: &http.Client{
		Timeout: 30 * time.Second,
		// Keep-alive connections, one per worker: a request the server never read
		// (its idle connection closed by the shutdown) is retried by the transport
		// when replayable, and then meets a closed listener (dial error).
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}}
}

// result is what one request got.
type result struct {
	op            string
	status        int
	body          string
	header        http.Header
	err           error
	start, finish time.Time
}

func (r result) String() string {
	if r.err != nil {
		return fmt.Sprintf("%s: error after %s: %v", r.op, r.finish.Sub(r.start).Round(time.Millisecond), r.err)
	}
	return fmt.Sprintf("%s: %d after %s: %s", r.op, r.status, r.finish.Sub(r.start).Round(time.Millisecond), tail(r.body, 300))
}

// refused tells a request the server never accepted: the connection was refused.
func (r result) refused() bool {
	var op *net.OpError
	return r.err != nil && errors.As(r.err, &op) && op.Op == "dial" && errors.Is(r.err, syscall.ECONNREFUSED)
}

// do sends one request: body is a form when contentType says so, else JSON text.
func (c *apiClient) do(ctx context.Context, op, method, path, contentType, body string, header ...string) result {
	r := result{op: op, start: time.Now()}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		r.err, r.finish = err, time.Now()
		return r
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if method != http.MethodGet {
		// Lets the transport replay the request on a new connection when the
		// server closed the old one without reading it (net/http: isReplayable).
		req.Header.Set("Idempotency-Key", strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		r.err, r.finish = err, time.Now()
		return r
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.status, r.body, r.header, r.err, r.finish = resp.StatusCode, string(data), resp.Header, err, time.Now()
	return r
}

// login gets a token for the client.
func (c *apiClient) login(t *testing.T, id, secret string) {
	t.Helper()
	r := c.do(context.Background(), "token", "POST", "/token", "application/x-www-form-urlencoded",
		url.Values{"client_id": {id}, "client_secret": {secret}}.Encode())
	m := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(r.body)
	if r.err != nil || r.status != http.StatusOK || m == nil {
		t.Fatalf("POST /token: %s", r)
	}
	c.token = m[1]
}
