package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
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
func specOperations(spec *openapi3.T) map[string]*routers.Route {
	ops := map[string]*routers.Route{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
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
			rt.spec, rt.params = op, pathParams(path, r)
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

// validating enforces the spec on requests of spec operations, in the order the
// Python CTMS checks them: body JSON syntax, then authentication, then the
// parameters and body against the schemas (kin-openapi). Handlers only see
// requests that passed, with the validated body (defaults applied) bound.
func (s *server) validating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := routeOf(r)
		if rt == nil || rt.spec == nil {
			next.ServeHTTP(w, r) // not a spec operation (docs, crash, ...)
			return
		}
		op := rt.spec.Operation
		// Bound the database work of the request: past the deadline it fails
		// fast with 503 instead of hanging on an unreachable database.
		if d := s.cfg.RequestDBTimeout; d > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
		var body []byte
		if op.RequestBody != nil {
			var err error
			if body, err = s.checkBody(w, r, op); err != nil {
				writeError(w, r, err)
				return
			}
		}
		if err := s.admit(r, op); err != nil { // access.go
			writeError(w, r, err)
			return
		}
		if hasJSONBody(op) {
			if err := checkJSONObject(r, body); err != nil {
				writeError(w, r, err)
				return
			}
			laxRequestBody(r, op, body)
		}
		if err := checkParams(r, rt, op); err != nil { // hostile.go
			writeError(w, r, err)
			return
		}
		lastValueWins(r, op)
		laxQuery(r, op)
		dropEmptyOptional(r, op)
		input := &openapi3filter.RequestValidationInput{
			Request: r, PathParams: rt.params, Route: rt.spec,
			Options: &openapi3filter.Options{
				// Form bodies (POST /token) are read by their handler, which treats
				// unknown content types as "no fields" like the Python CTMS.
				ExcludeRequestBody: !hasJSONBody(op),
				MultiError:         true,
				KeepValidatedValue: true,
				// kin would also put defaults in place of explicit nulls (hiding
				// `"newsletters": null` and turning `"email_lang": null` into "en");
				// the handlers apply the input defaults instead.
				SkipSettingDefaults: true,
				AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			},
		}
		if err := openapi3filter.ValidateRequest(r.Context(), input); err != nil {
			writeError(w, r, invalid(validationItems(err)...))
			return
		}
		if hasJSONBody(op) {
			keepFieldsVerbatim(r, body)
		}
		next.ServeHTTP(pythonJSONWriter{w}, r)
	})
}

// checkBody reads the body (bounded) and, before authentication runs, rejects
// malformed JSON sent as JSON, as FastAPI does. The body is put back for the
// validator and returned.
func (s *server) checkBody(w http.ResponseWriter, r *http.Request, op *openapi3.Operation) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes()))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, httpError(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return nil, httpError(http.StatusBadRequest, "There was an error reading the body")
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	if hasJSONBody(op) && isJSONContent(r) && len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
		return nil, invalid(ValidationItem{Type: "json_invalid", Loc: []any{"body", jsonErrorOffset(data)},
			Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": "Expecting value"}})
	}
	if hasJSONBody(op) && isJSONContent(r) {
		if err := checkStorableJSON(data); err != nil { // hostile.go
			return nil, err
		}
	}
	return data, nil // form bodies (POST /token) are checked by their handler
}

// checkJSONObject rejects, after authentication (where the Python CTMS fails on
// them), bodies that cannot be a JSON document: empty, or not sent as JSON.
func checkJSONObject(r *http.Request, data []byte) error {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return invalid(ValidationItem{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil})
	case !isJSONContent(r):
		return invalid(ValidationItem{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: string(data)})
	}
	// The validator reads the body by content type; give it the canonical one.
	r.Header.Set("Content-Type", "application/json")
	return nil
}

// isJSONContent tells whether FastAPI parses the body as JSON: no content type,
// application/json or application/*+json.
func isJSONContent(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "" || mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonErrorOffset is the position Python's json module reports: the index, in
// characters, of the character where decoding failed (the length at the end).
func jsonErrorOffset(data []byte) int64 {
	var v any
	off := int64(len(data))
	if se, ok := errors.AsType[*json.SyntaxError](json.Unmarshal(data, &v)); ok {
		off = se.Offset
		if off > 0 && off <= int64(len(data)) && !strings.HasPrefix(se.Error(), "unexpected end") {
			off-- // Go counts the offending byte as read
		}
	}
	return int64(utf8.RuneCount(data[:off]))
}

func hasJSONBody(op *openapi3.Operation) bool {
	if op.RequestBody == nil {
		return false
	}
	_, ok := op.RequestBody.Value.Content["application/json"]
	return ok
}

func requiresBearer(op *openapi3.Operation) bool {
	if op.Security == nil {
		return false
	}
	for _, req := range *op.Security {
		if _, ok := req["OAuth2ClientCredentials"]; ok {
			return true
		}
	}
	return false
}

// lastValueWins keeps the last of repeated values of a single-valued query
// parameter, as FastAPI does (the binder would refuse them).
func lastValueWins(r *http.Request, op *openapi3.Operation) {
	q := r.URL.Query()
	changed := false
	for _, p := range op.Parameters {
		v := p.Value
		if v.In == "query" && len(q[v.Name]) > 1 && (v.Schema == nil || v.Schema.Value == nil || !v.Schema.Value.Type.Is("array")) {
			q[v.Name] = q[v.Name][len(q[v.Name])-1:]
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}

// dropEmptyOptional treats an empty value of an optional parameter declared with
// allowEmptyValue as absent (as the Python CTMS does for /updates' end, limit,
// after and mofo_relevant).
func dropEmptyOptional(r *http.Request, op *openapi3.Operation) {
	q := r.URL.Query()
	changed := false
	for _, p := range op.Parameters {
		v := p.Value
		if v.In == "query" && v.AllowEmptyValue && !v.Required && q.Has(v.Name) && q.Get(v.Name) == "" {
			q.Del(v.Name)
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}
