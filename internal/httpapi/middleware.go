package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// defaultMaxBodyBytes bounds request bodies when the configuration does not
// (CTMS_HTTP_MAX_BODY_BYTES); larger ones are answered 413.
const defaultMaxBodyBytes = 1 << 20

func (s *server) maxBodyBytes() int64 {
	if s.cfg.MaxBodyBytes > 0 {
		return s.cfg.MaxBodyBytes
	}
	return defaultMaxBodyBytes
}

// route is what routing learned about a request.
type route struct {
	pattern string         // spec path template, e.g. /ctms/{email_id}
	spec    *routers.Route // the spec operation; nil for routes outside the spec
	op      *operation     // what the stages need of the spec operation (stages.go)
	params  map[string]string
}

// routeOf is the request's route; nil when no route matched.
func routeOf(r *http.Request) *route {
	return stateOf(r.Context()).route
}

// routePattern is the spec path of the request's route (e.g. /ctms/{email_id}),
// or "" when no route matched. It is the `path_template` of metrics and logs.
func routePattern(r *http.Request) string {
	if rt := routeOf(r); rt != nil {
		return rt.pattern
	}
	return ""
}

// specOperations indexes the spec by ServeMux pattern ("GET /ctms/{email_id}").
func specOperations(spec *openapi3.T) map[string]*operation {
	ops := map[string]*operation{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = newOperation(&routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op})
		}
	}
	return ops
}

// pathParams reads the {name} segments of pattern from the request path.
func pathParams(pattern string, r *http.Request) map[string]string {
	params := map[string]string{}
	ps := strings.Split(pattern, "/")
	rs := strings.Split(r.URL.EscapedPath(), "/")
	for i, seg := range ps {
		if i < len(rs) && strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			v, err := url.PathUnescape(rs[i])
			if err != nil {
				v = rs[i]
			}
			params[strings.Trim(seg, "{}")] = v
		}
	}
	return params
}

// routing resolves the route once, before anything runs, from the same ServeMux
// that serves it: requests that match no route get the FastAPI-style 404/405
// (or the 307 slash redirect) in JSON; matched ones carry their route.
func (s *server) routing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !segmentsAsSent(r) {
			s.unmatched(w, r) // ServeMux would clean the path or split it elsewhere
			return
		}
		_, pattern := s.mux.Handler(r)
		if pattern == "" {
			s.unmatched(w, r)
			return
		}
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		rt := &route{pattern: path}
		if op, ok := s.operations[r.Method+" "+path]; ok {
			rt.spec, rt.op, rt.params = op.route, op, pathParams(path, r)
		} else if _, isSpec := s.operations[method+" "+path]; isSpec {
			// ServeMux lets HEAD through to GET routes; the API routes do not have it.
			methodNotAllowed(w, r)
			return
		}
		stateOf(r.Context()).route = rt
		next.ServeHTTP(w, r)
	})
}

// unmatched answers a request that no route serves as Starlette's router
// does, on the percent-decoded path: 307 to the path with its trailing
// slashes removed (all of them), or with one added, when a route matches that
// one; else 405 when a route's path matches (methodNotAllowed), else 404.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p != "/" {
		alt := p + "/"
		if strings.HasSuffix(p, "/") {
			alt = strings.TrimRight(p, "/")
		}
		if _, ok := starletteRoute(alt); ok {
			// A relative reference, never built from the Host header the client
			// chose (docs/migrating-from-python.md); one leading slash, so that it
			// stays a path and never reads as a network-path reference (//host).
			loc := url.URL{Path: "/" + strings.TrimLeft(alt, "/"), RawQuery: r.URL.RawQuery}
			w.Header().Set("Location", loc.String())
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
	}
	if _, ok := starletteRoute(r.URL.Path); ok {
		methodNotAllowed(w, r)
		return
	}
	writeError(w, r, httpError(http.StatusNotFound, "Not Found"))
}

// methodNotAllowed is Starlette's 405: its Allow header lists the methods of
// the first route, in registration order, whose path matches (Route.handle),
// not of every route of the path: Allow: GET for POST /ctms/{email_id}.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if methods, ok := starletteRoute(r.URL.Path); ok {
		w.Header().Set("Allow", methods)
	}
	writeError(w, r, httpError(http.StatusMethodNotAllowed, "Method Not Allowed"))
}

// pythonRoutes are the Python CTMS's routes in the order its app registers
// them (the order of its metrics' path_template list), with their methods as
// Starlette lists them in Allow; CTMS-Go's own routes follow.
var pythonRoutes = []struct{ path, methods string }{
	{"/openapi.json", "GET, HEAD"}, {"/docs", "GET, HEAD"}, {"/docs/oauth2-redirect", "GET, HEAD"}, {"/redoc", "GET, HEAD"},
	{"/__lbheartbeat__", "GET, HEAD"}, {"/__heartbeat__", "GET, HEAD"}, {"/__version__", "GET"}, {"/", "GET"},
	{"/token", "POST"}, {"/__crash__", "GET"}, {"/metrics", "GET"},
	{"/ctms", "GET"}, {"/ctms/{email_id}", "GET"}, {"/ctms", "POST"}, {"/ctms/{email_id}", "PUT"},
	{"/ctms/{email_id}", "PATCH"}, {"/ctms/{primary_email}", "DELETE"},
	{"/updates", "GET"}, {"/identities", "GET"}, {"/identity/{email_id}", "GET"},
	{"/deletions", "GET"},
}

// starletteRoute finds the first route whose path template matches path, a
// {param} matching one non-empty segment (Starlette's default convertor).
func starletteRoute(path string) (methods string, ok bool) {
	for _, rt := range pythonRoutes {
		if templateMatches(rt.path, path) {
			return rt.methods, true
		}
	}
	return "", false
}

func templateMatches(template, path string) bool {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i, seg := range ts {
		if strings.HasPrefix(seg, "{") {
			if ps[i] == "" {
				return false
			}
		} else if seg != ps[i] {
			return false
		}
	}
	return true
}

// segmentsAsSent tells whether ServeMux sees the path as Starlette does: not
// when it would clean it ("//ctms", "/a/../b") nor when an escaped slash
// (%2F) would make one segment of what Starlette, matching the decoded path,
// sees as two.
func segmentsAsSent(r *http.Request) bool {
	p := r.URL.Path
	if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		return false
	}
	raw := r.URL.RawPath
	return raw == "" || !strings.Contains(raw, "%2F") && !strings.Contains(raw, "%2f")
}
