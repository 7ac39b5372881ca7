// Package httpapi is the HTTP layer of CTMS: the dispatch of every operation of
// api/openapi.yaml to its handler (operations.go), the routes outside the spec,
// and the middleware and request stages that route, validate and authenticate
// requests against the spec before a handler runs.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/auth"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
)

func init() {
	// Request ids and new email_ids are random UUIDs: draw their randomness from
	// crypto/rand in batches rather than one system call per UUID.
	uuid.EnableRandPool()
	// kin-openapi checks formats only when told how: the UUID spellings pydantic
	// accepts, refused with its reasons (fastapi.ParseUUID), and WHATWG absolute
	// URLs for newsletter and waitlist sources.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
		if _, why := fastapi.ParseUUID(s); why != "" {
			return errors.New(why)
		}
		return nil
	}))
	// Dates: the canonical YYYY-MM-DD of a real day (what fastapi's lax reading
	// leaves of the dates pydantic accepts).
	openapi3.DefineStringFormatValidator("date", openapi3.NewCallbackValidator(func(s string) error {
		if !fastapi.IsDate(s) {
			return errors.New("not a date")
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

// server serves the spec operations (operations.go) and the routes outside the spec.
type server struct {
	cfg      *config.Config
	store    *store.Store
	db       Pinger
	spec     *openapi3.T
	specJSON []byte
	// operations maps ServeMux patterns to spec operations.
	operations  map[string]*operation
	mux         *http.ServeMux
	access      lastAccess
	tokens      verifiedTokens // bearer tokens already verified (auth.go)
	started     time.Time      // bounds the tokens CTMS_SECRET_KEY_PREVIOUS verifies (auth.go)
	throttle    *tokenThrottle // failed POST /token attempts per address and client id (throttle.go)
	verifier    *auth.Verifier // bounds the argon2 work of POST /token
	dummyHash   string         // what unknown client ids are verified against (auth.DummyHash)
	metrics     *obs.Metrics
	metricsHTTP http.Handler // GET /metrics
	log         *slog.Logger
	rules       versionedCache[struct{}, contact.FieldRules] // cache.go
	bodyChecks  *fastapi.Checks                              // what checking a JSON body needs beyond its schema (stages.go)
	clientCache versionedCache[string, store.APIClient]
	feed        *accessfeed.Feed // nil: nothing is cached (cache.go)

	reads       *store.Store // the read endpoints' database (WithReadDB); store when none
	replicaSkip atomic.Int64 // until then (Unix ns) reads skip the read database (reads.go)

	draining context.Context // done once the server shuts down (WithDrain)
}

// Option configures New.
type Option func(*server)

// WithMetrics records requests in m (default: a private registry of its own).
func WithMetrics(m *obs.Metrics) Option { return func(s *server) { s.metrics = m } }

// WithLogger writes request summaries and errors to l (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *server) { s.log = l } }

// WithAccessFeed caches API clients and waitlist field rules while f is live
// (cache.go). Without it, they are read from the database for each request.
func WithAccessFeed(f *accessfeed.Feed) Option { return func(s *server) { s.feed = f } }

// WithArgon2Queue sets how many client secret verifications run at once and
// how many more may wait (default auth.DefaultVerifyConcurrency and
// auth.DefaultVerifyQueue); past that, POST /token answers 503 at once.
func WithArgon2Queue(concurrency, queue int) Option {
	return func(s *server) { s.verifier = auth.NewVerifier(concurrency, queue) }
}

// WithDummyHash sets the hash POST /token verifies secrets of unknown and
// disabled client ids against (default auth.DummyHash(), the parameters of
// `ctms clients`). Tests whose clients have cheap hashes pass a cheap one.
func WithDummyHash(phc string) Option { return func(s *server) { s.dummyHash = phc } }

// WithReadDB serves GET /ctms, /ctms/{email_id}, /identities, /identity/{email_id} and
// /updates and /deletions from db (a standby: CTMS_DB_READ_URL) once it has replayed what the primary had
// committed when the request came in, else from the primary (reads.go). Writes, their
// responses and authentication always use the primary.
func WithReadDB(db store.DB) Option { return func(s *server) { s.reads = store.New(db) } }

// WithDrain makes /__lbheartbeat__ answer 503 once ctx is done (the first
// SIGTERM), while every other request is still served, so that load balancers
// stop sending traffic before the listener closes (cmd/ctms/serve.go).
func WithDrain(ctx context.Context) Option { return func(s *server) { s.draining = ctx } }

// New returns the whole HTTP handler of the service.
// Start-up reads the enabled API clients to pre-create their metric series, so
// (as in the Python CTMS) it needs the database.
func New(ctx context.Context, cfg *config.Config, db store.DB, pinger Pinger, opts ...Option) (http.Handler, error) {
	spec, specJSON, err := loadSpec()
	if err != nil {
		return nil, err
	}
	if err := checkAccessRules(spec); err != nil { // access.go: fail closed
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	st := store.New(db)
	s := &server{
		cfg: cfg, store: st, db: pinger, spec: spec, specJSON: specJSON,
		operations: specOperations(spec), mux: http.NewServeMux(), access: lastAccess{seen: map[string]time.Time{}},
		log: slog.Default(), throttle: newTokenThrottle(), started: time.Now(),
		verifier:  auth.NewVerifier(auth.DefaultVerifyConcurrency, auth.DefaultVerifyQueue),
		dummyHash: auth.DummyHash(),
	}
	s.bodyChecks = s.newBodyChecks()
	for _, o := range opts {
		o(s)
	}
	if s.reads == nil {
		s.reads = st
	}
	if cfg.TokenFailuresPerAddress > 0 {
		s.throttle.addrLimit = cfg.TokenFailuresPerAddress
	}
	if s.metrics == nil {
		s.metrics = obs.NewMetrics()
	}
	if err := s.metrics.RegisterOldestWriteAge(st.OldestWriteAge); err != nil { // the primary's markers
		return nil, err
	}
	if err := checkDispatch(s.operations); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	if err := checkBodies(s.operations, s.bodyChecks); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	s.metricsHTTP = textFormat004(s.metrics.Handler())
	for pattern := range s.operations {
		s.mux.HandleFunc(pattern, s.serveOperation)
	}
	s.platformRoutes()
	clientIDs, err := st.EnabledClientIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read API clients for metrics: %w", err)
	}
	s.metrics.Preinit(s.metricRoutes(), clientIDs)
	// The request path, outermost first: request id, metrics and log line
	// (observe.go); panics to 500; routing to the spec operation (middleware.go);
	// the mux: spec operations go through the request stages to their handler
	// (operations.go), the other routes straight to theirs.
	return s.observe(s.recoverer(s.routing(s.mux))), nil
}

// hiddenRoutes are served but not in the spec: (method, path, statuses whose
// metric series exist from start-up). As in the Python CTMS, `/` has 307 and
// every other route hidden from its OpenAPI document 200, whatever it answers.
var hiddenRoutes = []obs.Route{
	{Method: "GET", Path: "/", Statuses: []int{307}},
	{Method: "GET", Path: "/openapi.json", Statuses: []int{200}},
	{Method: "HEAD", Path: "/openapi.json", Statuses: []int{200}},
	{Method: "GET", Path: "/docs", Statuses: []int{200}},
	{Method: "HEAD", Path: "/docs", Statuses: []int{200}},
	{Method: "GET", Path: "/docs/oauth2-redirect", Statuses: []int{200}},
	{Method: "HEAD", Path: "/docs/oauth2-redirect", Statuses: []int{200}},
	{Method: "GET", Path: "/redoc", Statuses: []int{200}},
	{Method: "HEAD", Path: "/redoc", Statuses: []int{200}},
	{Method: "GET", Path: "/__crash__", Statuses: []int{200}},
}

// metricRoutes lists every route with the statuses whose series are created at
// start-up: an operation's `x-ctms-metric-statuses` (the Python CTMS's set, which
// its dashboards expect), else the statuses the spec documents for it. The
// non-public operations are the API routes, counted per client.
func (s *server) metricRoutes() []obs.Route {
	routes := append([]obs.Route(nil), hiddenRoutes...)
	for _, path := range s.spec.Paths.InMatchingOrder() {
		item := s.spec.Paths.Value(path)
		for method, op := range item.Operations() {
			r := obs.Route{Method: method, Path: path, API: !isPublic(op), Statuses: metricStatuses(op)}
			routes = append(routes, r)
		}
	}
	return routes
}

func metricStatuses(op *openapi3.Operation) []int {
	var statuses []int
	if listed, ok := op.Extensions["x-ctms-metric-statuses"].([]any); ok {
		for _, v := range listed {
			if n, ok := v.(float64); ok {
				statuses = append(statuses, int(n))
			}
		}
		return statuses
	}
	for code := range op.Responses.Map() {
		if n, err := strconv.Atoi(code); err == nil {
			statuses = append(statuses, n)
		}
	}
	return statuses
}
