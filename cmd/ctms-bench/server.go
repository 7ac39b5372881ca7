package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverProc is `bin/ctms serve` running as a child process on loopback.
type serverProc struct {
	cmd     *exec.Cmd
	label   string // which build, in messages ("" when there is one)
	base    string // http://127.0.0.1:port
	logPath string
	done    chan struct{}
	waitErr error
	once    sync.Once
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs bin/ctms serve on dbURL and waits until /__lbheartbeat__ answers.
// Its output (warnings and errors only) goes to a log file in the temporary directory.
func startServer(ctx context.Context, bin, dbURL, secretKey string) (*serverProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp("", "ctms-bench-server-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "CTMS_DB_URL="+dbURL, "CTMS_SECRET_KEY="+secretKey,
		"CTMS_USE_MOZLOG=false", "CTMS_LOGGING_LEVEL=WARNING", "SENTRY_DSN=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server must not outlive the benchmark, even if the benchmark is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close() // written by the child; nothing to flush here
		return nil, fmt.Errorf("start bin/ctms serve: %w", err)
	}
	s := &serverProc{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), logPath: logFile.Name(), done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		_ = logFile.Close() // written by the child; nothing to flush here
		close(s.done)
	}()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("bin/ctms serve exited (%v) before answering; its log:\n%s", s.waitErr, tail(s.logPath, 20))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := client.Get(s.base + "/__lbheartbeat__")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close() // drained above
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("bin/ctms serve did not answer /__lbheartbeat__ within 60 s; its log:\n%s", tail(s.logPath, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM (SIGKILL after 10 s) and removes its log unless it
// holds something.
func (s *serverProc) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if fi, err := os.Stat(s.logPath); err == nil && fi.Size() == 0 {
			_ = os.Remove(s.logPath) // an empty log left behind is harmless
		} else if err == nil {
			logf("%s log (warnings and errors): %s", strings.TrimSpace(s.label+" server"), s.logPath)
		}
	})
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

func tail(path string, lines int) string {
	data, err := os.ReadFile(path) // #nosec G304 -- the benchmark's own server log
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
