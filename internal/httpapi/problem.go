package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/getsentry/sentry-go"

	"github.com/ctms-go/ctms/internal/fastapi"
	"github.com/ctms-go/ctms/internal/store"
)

// Error is an HTTP error answer: a status and a FastAPI-style `detail` (a string,
// a list of ValidationItem, or an object). Handlers and middleware return or
// write these; writeError is the one place that turns any error into a response.
type Error struct {
	Status int
	Detail any
	Header http.Header // extra headers, e.g. WWW-Authenticate
}

func (e *Error) Error() string {
	if s, ok := e.Detail.(string); ok {
		return s
	}
	return http.StatusText(e.Status)
}

// ValidationItem is one entry of a 422 `detail` list, in pydantic's key order.
type ValidationItem = fastapi.ValidationItem

// statusClientClosedRequest is nginx's code for a request its client abandoned.
const statusClientClosedRequest = 499

var errDatabaseUnavailable = &Error{Status: http.StatusServiceUnavailable,
	Detail: "Service Unavailable: the database is not reachable, try again later",
	Header: http.Header{"Retry-After": {"1"}}}

func httpError(status int, detail string) *Error { return &Error{Status: status, Detail: detail} }

func notFound(detail string) *Error { return httpError(http.StatusNotFound, detail) }

func conflict(detail string) *Error { return httpError(http.StatusConflict, detail) }

func unprocessable(detail string) *Error { return httpError(http.StatusUnprocessableEntity, detail) }

func invalid(items ...ValidationItem) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Detail: items}
}

// writeError writes err as a JSON error body. Anything that is not an *Error is
// unexpected: it is logged (without request data) and answered as the Python
// CTMS answers an uncaught exception, 500 in plain text (writeServerError).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok && errors.Is(err, store.ErrUnavailable) {
		// An outage, not a bug: fail fast with 503 so clients retry.
		loggerOf(r.Context()).WarnContext(r.Context(), "database unavailable", "error", err.Error(),
			"method", r.Method, "path_template", routePattern(r))
		e, ok = errDatabaseUnavailable, true
	}
	if !ok && errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away mid-request: nothing failed on our side and nobody
		// reads the answer; 499 (nginx's "client closed request") keeps it out of 5xx.
		loggerOf(r.Context()).InfoContext(r.Context(), "client closed request", "method", r.Method, "path_template", routePattern(r))
		e, ok = httpError(statusClientClosedRequest, "Client Closed Request"), true
	}
	if !ok {
		sentry.CurrentHub().Clone().CaptureException(err)
		loggerOf(r.Context()).ErrorContext(r.Context(), "request failed", "error", err.Error(),
			"method", r.Method, "path_template", routePattern(r))
		writeServerError(w)
		return
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.Status, struct {
		Detail any `json:"detail"`
	}{e.Detail})
}

// writeJSON writes v as JSON in the Python CTMS's form (fastapi.Marshal). A
// value it cannot encode is a bug, as an unencodable response is an uncaught
// exception in the Python CTMS: it panics before writing anything, and the
// recoverer (platform.go) logs it and answers 500 in plain text.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := fastapi.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("write JSON response (%T): %w", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
