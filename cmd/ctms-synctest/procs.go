package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// freePort finds a free loopback port below Linux's ephemeral ports (32768 on): the
// drill restarts servers on their ports, and meanwhile an outgoing connection could
// hold an ephemeral one (a port the kernel hands out for ":0" is one of those).
func freePort() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000) // #nosec G404 -- a test port, not a secret
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			return 0, err
		}
		return port, nil
	}
	return 0, errors.New("no free loopback port between 20000 and 32000")
}

// pgServer is the drill's own PostgreSQL (initdb in a temporary directory), so that it
// can be restarted without disturbing anyone else's.
type pgServer struct {
	bindir, base, data string
	port               int
	runAs              string // the account the server runs as when the drill runs as root
}

func startPG(bindir, base string) (*pgServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &pgServer{bindir: bindir, base: base, data: filepath.Join(base, "pg"), port: port}
	if os.Geteuid() == 0 {
		for _, name := range []string{"postgres", "ctms-pg"} {
			if _, err := user.Lookup(name); err == nil {
				p.runAs = name
				break
			}
		}
		if p.runAs == "" {
			return nil, errors.New("running as root, and no `postgres` (or `ctms-pg`) account to run PostgreSQL")
		}
	}
	if err := os.Chmod(base, 0o777); err != nil { // #nosec G302 -- the server's account creates its data directory here
		return nil, err
	}
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return p, p.ctl("start")
}

// run runs a PostgreSQL program (as the server's account when there is one).
func (p *pgServer) run(prog string, args ...string) (string, error) {
	path := filepath.Join(p.bindir, prog)
	var cmd *exec.Cmd
	if p.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.runAs, "--", path}, args...)...) // #nosec G204 -- the drill's own server
	} else {
		cmd = exec.Command(path, args...) // #nosec G204 -- the drill's own server
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ctl runs pg_ctl start, stop (immediate) or restart (fast: sessions terminated, in-flight
// transactions rolled back, as an operator's restart).
func (p *pgServer) ctl(action string) error {
	// A lean server: the drill is about the syncer, not durability.
	opts := fmt.Sprintf("-p %d -k '' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
		"-c full_page_writes=off -c max_connections=100 -c shared_buffers=128MB", p.port)
	args := []string{action, "-D", p.data, "-w", "-t", "60"}
	switch action {
	case "start", "restart":
		args = append(args, "-l", filepath.Join(p.base, "postgres.log"), "-o", opts)
		if action == "restart" {
			args = append(args, "-m", "fast")
		}
	case "stop":
		args = append(args, "-m", "immediate")
	}
	if out, err := p.run("pg_ctl", args...); err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", action, err, out)
	}
	return nil
}

func (p *pgServer) url(db string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// cleanEnv is the drill's environment without CTMS settings, plus settings.
func cleanEnv(settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "CTMS_") && !strings.HasPrefix(kv, "PORT=") && !strings.HasPrefix(kv, "HOST=") {
			env = append(env, kv)
		}
	}
	return append(env, settings...)
}

func launch(name, logDir string, env []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the drill's log directory
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binaries the drill was given
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// logTail is the end of the process's log.
func (p *proc) logTail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP waits until GET url answers 200, or the process exits, or timeout.
func waitHTTP(p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail(20))
		}
		if st, _, err := get(context.Background(), url); err == nil && st == http.StatusOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within %s\n%s", p.name, url, timeout, p.logTail(20))
}

// waitLine waits until the process's log has a line starting with prefix and returns it.
func waitLine(p *proc, prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, err := os.Open(p.log)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), prefix) {
					_ = f.Close()
					return sc.Text(), nil
				}
			}
			_ = f.Close()
		}
		if p.exited() {
			return "", fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("%s printed no %q within %s", p.name, prefix, timeout)
}

// runCmd runs a ctms command to completion and answers its output.
func runCmd(env []string, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binaries the drill was given
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
