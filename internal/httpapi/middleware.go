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
			w.Header().Set("Allow", method)
			writeError(w, r, httpError(http.StatusMethodNotAllowed, "Method Not Allowed"))
			return
		}
		stateOf(r.Context()).route = rt
		next.ServeHTTP(w, r)
	})
}

// unmatched answers a request that no route serves: 307 to the path with the
// trailing slash toggled when that one exists, else the mux's 404 or 405 in JSON.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		alt := r.Clone(r.Context())
		alt.URL.Path = toggleSlash(r.URL.Path)
		alt.URL.RawPath = ""
		if _, p := s.mux.Handler(alt); p != "" {
			// A relative reference, never built from the Host header the client
			// chose (docs/migrating-from-python.md); one leading slash, so that it
			// stays a path and never reads as a network-path reference (//host).
			loc := url.URL{Path: "/" + strings.TrimLeft(alt.URL.Path, "/"), RawQuery: r.URL.RawQuery}
			w.Header().Set("Location", loc.String())
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
	}
	rec := &statusOnly{header: w.Header()}
	s.mux.ServeHTTP(rec, r) // learn 404 vs 405 (and Allow) from the mux itself
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeError(w, r, httpError(http.StatusMethodNotAllowed, "Method Not Allowed"))
	default:
		writeError(w, r, httpError(http.StatusNotFound, "Not Found"))
	}
}

func toggleSlash(p string) string {
	if strings.HasSuffix(p, "/") {
		return strings.TrimSuffix(p, "/")
	}
	return p + "/"
}

// statusOnly records the status the mux would send, discarding its text body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.header.Del("Content-Type")
	s.header.Del("X-Content-Type-Options")
}
