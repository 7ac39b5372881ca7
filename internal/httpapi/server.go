// Package httpapi is the HTTP layer of CTMS: the generated strict server
// implementation (one method per spec operation), the hand-written platform
// routes, and the middleware that routes, validates and authenticates requests
// against api/openapi.yaml before a handler runs.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/obs"
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
	db       Pinger
	spec     *openapi3.T
	specJSON []byte
	// operations maps ServeMux patterns to spec operations.
	operations  map[string]*routers.Route
	mux         *http.ServeMux
	access      lastAccess
	throttle    *tokenThrottle // failed POST /token attempts per client id (throttle.go)
	metrics     *obs.Metrics
	log         *slog.Logger
	rules       fieldRules
	clientCache clientCache

	reads       *store.Store // the read endpoints' database (WithReadDB); store when none
	replicaSkip atomic.Int64 // until then (Unix ns) reads skip the read database (reads.go)
}

// Option configures New.
type Option func(*server)

// WithMetrics records requests in m (default: a private registry of its own).
func WithMetrics(m *obs.Metrics) Option { return func(s *server) { s.metrics = m } }

// WithLogger writes request summaries and errors to l (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *server) { s.log = l } }

// WithClientCacheTTL sets how long an API client (enabled flag, roles) may be
// served from memory (default 5 s; 0 reads it on every request).
func WithClientCacheTTL(d time.Duration) Option { return func(s *server) { s.clientCache.ttl = d } }

// WithRulesRefresh sets how old the cached waitlist field rules may get (default 5 s).
func WithRulesRefresh(d time.Duration) Option { return func(s *server) { s.rules.ttl = d } }

// WithReadDB serves GET /ctms, /ctms/{email_id}, /identities, /identity/{email_id} and
// /updates and /deletions from db (a standby: CTMS_DB_READ_URL) once it has replayed what the primary had
// committed when the request came in, else from the primary (reads.go). Writes, their
// responses and authentication always use the primary.
func WithReadDB(db store.DB) Option { return func(s *server) { s.reads = store.New(db) } }

// New returns the whole HTTP handler of the service.
// Start-up reads the enabled API clients to pre-create their metric series, so
// (as in the Python CTMS) it needs the database.
func New(ctx context.Context, cfg *config.Config, db store.DB, pinger Pinger, opts ...Option) (http.Handler, error) {
	spec, specJSON, err := loadSpec()
	if err != nil {
		return nil, err
	}
	st := store.New(db)
	s := &server{
		cfg: cfg, store: st, db: pinger, spec: spec, specJSON: specJSON,
		operations: specOperations(spec), mux: http.NewServeMux(), access: lastAccess{seen: map[string]time.Time{}},
		log: slog.Default(), rules: fieldRules{ttl: 5 * time.Second}, throttle: newTokenThrottle(),
		clientCache: clientCache{ttl: 5 * time.Second, entries: map[string]cachedClient{}},
	}
	for _, o := range opts {
		o(s)
	}
	if s.reads == nil {
		s.reads = st
	}
	if s.metrics == nil {
		s.metrics = obs.NewMetrics()
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
	clientIDs, err := st.EnabledClientIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read API clients for metrics: %w", err)
	}
	s.metrics.Preinit(s.metricRoutes(), clientIDs)
	return s.observe(s.recoverer(s.routing(s.validating(s.mux)))), nil
}

// hiddenRoutes are served but not in the spec: (method, path, status).
var hiddenRoutes = []obs.Route{
	{Method: "GET", Path: "/", Statuses: []int{307}},
	{Method: "GET", Path: "/openapi.json", Statuses: []int{200}},
	{Method: "HEAD", Path: "/openapi.json", Statuses: []int{200}},
	{Method: "GET", Path: "/docs", Statuses: []int{200}},
	{Method: "HEAD", Path: "/docs", Statuses: []int{200}},
	{Method: "GET", Path: "/docs/oauth2-redirect", Statuses: []int{307}},
	{Method: "GET", Path: "/redoc", Statuses: []int{200}},
	{Method: "HEAD", Path: "/redoc", Statuses: []int{200}},
	{Method: "GET", Path: "/__crash__", Statuses: []int{500}},
}

// metricRoutes lists every route with the statuses the spec documents for it.
func (s *server) metricRoutes() []obs.Route {
	routes := append([]obs.Route(nil), hiddenRoutes...)
	for _, path := range s.spec.Paths.InMatchingOrder() {
		item := s.spec.Paths.Value(path)
		for method, op := range item.Operations() {
			r := obs.Route{Method: method, Path: path, API: requiresBearer(op)}
			for code := range op.Responses.Map() {
				if n, err := strconv.Atoi(code); err == nil {
					r.Statuses = append(r.Statuses, n)
				}
			}
			routes = append(routes, r)
		}
	}
	return routes
}
