// Package httpapi is the HTTP layer of CTMS: the generated strict server
// implementation (one method per spec operation), the hand-written platform
// routes, and the middleware that routes, validates and authenticates requests
// against api/openapi.yaml before a handler runs.
package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/store"
)

func init() {
	// kin-openapi checks formats only when told how: the same UUID spellings the
	// binder accepts (hyphenated, 32 hex digits, braces, urn:uuid:), and WHATWG
	// absolute URLs for newsletter and waitlist sources.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
		if _, err := uuid.Parse(s); err != nil {
			return fmt.Errorf("invalid character or length")
		}
		return nil
	}))
	openapi3.DefineStringFormatValidator("uri", openapi3.NewCallbackValidator(func(s string) error {
		if why := urlProblem(s); why != "" {
			return fmt.Errorf("%s", why)
		}
		return nil
	}))
}

// Pinger is what the heartbeat needs of the database.
type Pinger interface {
	Ping(ctx context.Context) error
}

// server implements api.StrictServerInterface and the platform routes.
type server struct {
	cfg      *config.Config
	store    *store.Store
	clients  *store.Store
	db       Pinger
	spec     *openapi3.T
	specJSON []byte
	// operations maps ServeMux patterns to spec operations.
	operations map[string]*routers.Route
	mux        *http.ServeMux
	access     lastAccess
}

// New returns the whole HTTP handler of the service.
func New(cfg *config.Config, db store.DB, pinger Pinger) (http.Handler, error) {
	spec, err := api.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	specJSON, err := spec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	spec.Servers = nil // else the validator also matches the Host header
	st := store.New(db)
	s := &server{
		cfg: cfg, store: st, clients: st, db: pinger, spec: spec, specJSON: specJSON,
		operations: specOperations(spec), mux: http.NewServeMux(), access: lastAccess{seen: map[string]time.Time{}},
	}
	strict := api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, invalid(ValidationItem{Type: "value_error", Loc: []any{"body"}, Msg: "Value error, " + err.Error()}))
		},
		ResponseErrorHandlerFunc: writeError,
	})
	api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: s.mux,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, invalid(ValidationItem{Type: "value_error", Loc: []any{}, Msg: "Value error, " + err.Error()}))
		},
	})
	s.platformRoutes()
	return recoverer(s.routing(s.validating(s.mux))), nil
}
