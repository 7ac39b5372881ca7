package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/ctms-go/ctms/internal/docs"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/version"
)

// platformRoutes registers the routes outside the spec: the spec itself, the
// documentation, the redirect and /__crash__. The spec's own platform operations
// (token, Dockerflow, metrics) are dispatched as the others (operations.go).
func (s *server) platformRoutes() {
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.specJSON)
	})
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "./docs")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	s.mux.HandleFunc("GET /__crash__", s.crash)
	docs.Register(s.mux, "/openapi.json")
}

// lbHeartbeat is the load balancer's liveness check: 503 once the server drains.
func (s *server) lbHeartbeat(w http.ResponseWriter, r *http.Request) {
	if s.draining != nil && s.draining.Err() != nil {
		writeError(w, r, errShuttingDown)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

var errShuttingDown = httpError(http.StatusServiceUnavailable, "Service Unavailable: shutting down")

type heartbeatBody struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Details map[string]any    `json:"details"`
}

// heartbeat checks the database (Dockerflow): 200, or 500 with the check's details.
func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.ErrorContext(r.Context(), "db.0001: Database not reachable", obs.LoggerKey, "dockerflow.checks.registry", "error", err.Error())
		writeJSON(w, http.StatusInternalServerError, heartbeatBody{
			Status: "error", Checks: map[string]string{"database": "error"},
			Details: map[string]any{"database": map[string]any{
				"status": "error", "level": 40, "messages": map[string]string{"db.0001": "Database not reachable"},
			}},
		})
		return
	}
	if n, err := s.store.ContactsEstimate(ctx); err == nil {
		s.metrics.SetContacts(float64(n))
	}
	writeJSON(w, http.StatusOK, heartbeatBody{Status: "ok", Checks: map[string]string{"database": "ok"}, Details: map[string]any{}})
}

// version serves <APP_DIR>/version.json when there is one (as the Python CTMS
// does), else the build stamp of the binary.
func (s *server) version(w http.ResponseWriter, r *http.Request) {
	data, err := os.ReadFile(filepath.Join(s.cfg.AppDir, "version.json"))
	if err != nil || !json.Valid(data) {
		writeJSON(w, http.StatusOK, version.Current())
		return
	}
	var v any
	_ = json.Unmarshal(data, &v)
	writeJSON(w, http.StatusOK, v)
}

var errCrash = errors.New("crash requested at /__crash__")

// crash fails on purpose (for an authenticated client) so error reporting can be tested.
func (s *server) crash(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		writeError(w, r, err)
		return
	}
	panic(errCrash)
}

// recoverer turns a panic into the 500 Starlette's ServerErrorMiddleware answers
// every uncaught exception with (plain text, no detail), logged with its stack
// and reported to Sentry (a no-op when SENTRY_DSN is unset).
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				sentry.CurrentHub().Clone().RecoverWithContext(r.Context(), v)
				s.log.ErrorContext(r.Context(), "Exception in ASGI application", obs.LoggerKey, "uvicorn.error",
					"error", fmt.Sprint(v), "traceback", string(debug.Stack()))
				writeServerError(w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeServerError is Starlette's answer to an uncaught exception.
func writeServerError(w http.ResponseWriter) {
	const body = "Internal Server Error"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, body)
}

// textFormat004 labels the text exposition format as the Python CTMS's
// prometheus_client does, "text/plain; version=0.0.4; charset=utf-8":
// client_golang's promhttp always appends "; escaping=underscores" (the
// metric-name escaping it applied, which for CTMS's names changes nothing) and
// has no option to leave it out. Other negotiated formats are left as they are.
func textFormat004(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&contentTypeFix{ResponseWriter: w, from: textFormat004Type + "; escaping=underscores", to: textFormat004Type}, r)
	})
}

const textFormat004Type = "text/plain; version=0.0.4; charset=utf-8"

// contentTypeFix replaces the Content-Type from by to when the header is written.
type contentTypeFix struct {
	http.ResponseWriter
	from, to string
	done     bool
}

func (c *contentTypeFix) WriteHeader(code int) {
	if !c.done {
		c.done = true
		if c.Header().Get("Content-Type") == c.from {
			c.Header().Set("Content-Type", c.to)
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *contentTypeFix) Write(b []byte) (int, error) {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
