package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
	"github.com/ctms-go/ctms/internal/store"
)

// The stages every request to an operation of api/openapi.yaml goes through,
// after routing (middleware.go) and before its handler, in this order. The order
// is the Python CTMS's: when a request has several problems, the first stage that
// finds one answers (e.g. a body that is not JSON gets 422 before a missing token
// gets 401). Each stage either passes or returns the error writeError answers.
var requestStages = []struct {
	name string
	run  func(*server, *call) error
	// answers lists the statuses the stage can answer (stages_test.go checks that
	// api/openapi.yaml declares them for every operation the stage applies to).
	answers func(*operation) []int
}{
	{"deadline", (*server).deadline, none},
	{"read body", (*server).readBody, func(op *operation) []int {
		return when(op.hasBody, http.StatusRequestEntityTooLarge, http.StatusBadRequest, http.StatusUnprocessableEntity)
	}},
	{"authenticate", (*server).authenticateCall, func(op *operation) []int {
		return when(!op.public, http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden, http.StatusServiceUnavailable)
	}},
	{"authorise", (*server).authorise, func(op *operation) []int { return when(!op.public, http.StatusForbidden) }},
	{"normalise", (*server).normalise, func(op *operation) []int {
		return when(op.hasJSONBody || len(op.params) > 0, http.StatusUnprocessableEntity)
	}},
	{"validate", (*server).validate, func(op *operation) []int {
		return when(op.hasJSONBody || len(op.params) > 0, http.StatusUnprocessableEntity)
	}},
}

func none(*operation) []int { return nil }

func when(cond bool, statuses ...int) []int {
	if cond {
		return statuses
	}
	return nil
}

// call is one request to a spec operation as the stages see it, and what they
// bind for its handler. The stages never change the request itself.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	rt     *route
	op     *operation
	cancel context.CancelFunc // of the deadline, when set
	body   []byte             // as read (operations with a request body)
	json   any                // the body decoded (JSON bodies sent as JSON): fastapi.DecodeBody
	query  url.Values         // the query as FastAPI reads it (normalise)
	client *store.APIClient   // authenticated (non-public operations)

	// Bound by validate (paramBinders, patchFromBody), for the handler.
	emailID      uuid.UUID                             // path {email_id}
	primaryEmail string                                // path {primary_email}
	ids          api.ReadCtmsByAnyIdParams             // GET /ctms, GET /identities
	page         api.ReadCtmsInBulkByUpdatedDateParams // GET /updates, GET /deletions
	patch        *contact.Patch                        // the body of POST, PUT and PATCH, mapped and checked
}

// deadline bounds the database work of the request: past it, the request fails
// fast with 503 instead of hanging on an unreachable database.
func (s *server) deadline(c *call) error {
	if d := s.cfg.RequestDBTimeout; d > 0 {
		var ctx context.Context
		ctx, c.cancel = context.WithTimeout(c.r.Context(), d)
		c.r = c.r.WithContext(ctx)
	}
	return nil
}

// readBody reads the body (bounded) and, before authentication as FastAPI does,
// decodes a JSON body sent as JSON, once: a body that is not UTF-8 is answered
// 400, malformed JSON 422, and JSON that PostgreSQL could not store 422
// (hostile.go).
func (s *server) readBody(c *call) error {
	if !c.op.hasBody {
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, s.maxBodyBytes()))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return httpError(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return httpError(http.StatusBadRequest, "There was an error reading the body")
	}
	c.body = data
	if !c.op.hasJSONBody {
		return nil // a form (POST /token): its handler reads c.body
	}
	if !isJSONContent(c.r) || len(data) == 0 {
		return nil // refused after authentication (normalise), as FastAPI does
	}
	// Python's json.loads reads bytes starting with a UTF-8 byte-order mark as
	// UTF-8 without it (json.detect_encoding: utf-8-sig).
	data = bytes.TrimPrefix(data, utf8BOM)
	c.body = data
	// json.loads decodes the bytes before it reads any JSON: invalid UTF-8 is
	// a UnicodeDecodeError, which FastAPI answers 400, whatever the syntax.
	if !utf8.Valid(data) {
		return errBodyNotUTF8
	}
	if c.op.body != nil {
		c.json, err = c.op.body.Decode(data)
	} else {
		c.json, err = fastapi.DecodeBody(data)
	}
	if err != nil {
		return invalid(fastapi.JSONInvalid(data))
	}
	return checkStorableJSON(data) // hostile.go
}

var (
	utf8BOM        = []byte("\uFEFF")
	errBodyNotUTF8 = httpError(http.StatusBadRequest, "There was an error parsing the body")
)

var errNoPermissionDeclared = httpError(http.StatusForbidden, "Forbidden: the operation declares no permission")

// authenticateCall lets public operations through; the others need an enabled
// bearer client. An operation that declares no permission is refused before
// credentials are even looked at (access.go: access fails closed).
func (s *server) authenticateCall(c *call) error {
	if c.op.public {
		return nil
	}
	if len(c.op.permissions) == 0 {
		return errNoPermissionDeclared // nobody, admin included
	}
	client, err := s.authenticate(c.r) // auth.go
	c.client = client
	return err
}

// authorise enforces the permissions the operation declares (x-ctms-permissions).
func (s *server) authorise(c *call) error {
	if c.op.public {
		return nil
	}
	return s.authorize(c.client, c.op.permissions)
}

// normalise reads the input as FastAPI would for the Python CTMS, into the
// call: a JSON body must be there and sent as JSON; the query is read in one pass (fastapi.NormaliseQuery) and invalid
// UTF-8 in the path replaced (hostile.go). Parameters holding NUL are refused.
func (s *server) normalise(c *call) error {
	if c.op.hasJSONBody {
		switch {
		// An empty body (a 500 in the Python CTMS) and a JSON null (FastAPI: a
		// required body that is None) are both a missing body.
		case len(c.body) == 0 || c.json == nil && isJSONContent(c.r):
			return invalid(ValidationItem{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil})
		case !isJSONContent(c.r):
			return invalid(ValidationItem{Type: "model_attributes_type", Loc: []any{"body"},
				Msg: "Input should be a valid dictionary or object to extract fields from", Input: string(c.body)})
		}
	}
	c.rt.params = validPathUTF8(c.rt.params) // hostile.go
	c.query = c.r.URL.Query()                // a copy: r.URL keeps the query as sent
	if problems := fastapi.NormaliseQuery(c.query, c.rt.params, c.op.route.Operation.Parameters); len(problems) > 0 {
		return invalid(problems...)
	}
	return nil
}

// validateOptions are those of the schema validation of parameters: kin would
// also put defaults in place of absent values; the handlers apply them instead.
var validateOptions = &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true}

// validate checks the parameters against the spec (kin-openapi) and the JSON
// body as pydantic validates it (fastapi.Model), all problems at once as
// FastAPI lists them (path, query, then body), then binds them for the
// handler: each parameter into its typed place in the call (paramBinders), the
// body, mapped to the domain patch (input.go) and checked by the contact rules,
// into c.patch.
func (s *server) validate(c *call) error {
	var items []ValidationItem
	var input *openapi3filter.RequestValidationInput
	for _, p := range c.op.params {
		if p.plain && plainValid(p.Parameter, c.rt.params, c.query) {
			continue
		}
		if input == nil {
			input = &openapi3filter.RequestValidationInput{Request: c.r, PathParams: c.rt.params,
				QueryParams: c.query, Route: c.op.route, Options: validateOptions}
		}
		if err := openapi3filter.ValidateParameter(c.r.Context(), input, p.Parameter); err != nil {
			items = append(items, fastapi.Items(err)...)
		}
	}
	var body any
	if c.op.body != nil {
		checked, bodyItems, err := c.op.body.Check(c.r.Context(), c.json, s.bodyChecks)
		if err != nil {
			return err // the waitlist field rules could not be read
		}
		body, items = checked, append(items, bodyItems...)
	}
	if len(items) > 0 {
		if err := fastapi.KeepClientOrder(c.r.Context(), items, c.body); err != nil {
			return err
		}
		return invalid(items...)
	}
	for _, p := range c.op.params {
		if v, ok := paramValue(p.Parameter, c); ok {
			if err := p.bind(c, v); err != nil {
				return err
			}
		}
	}
	if c.op.body == nil {
		return nil
	}
	p := patchFromBody(body)
	if problems := p.Validate(); len(problems) > 0 { // duplicate names
		return invalid(problemItems(problems)...)
	}
	c.patch = p
	return nil
}

// paramValue is the value of a parameter as normalise left it; ok is false
// when the request has none.
func paramValue(p *openapi3.Parameter, c *call) (string, bool) {
	if p.In == "path" {
		v, ok := c.rt.params[p.Name]
		return v, ok
	}
	vs := c.query[p.Name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// operation is what the stages need of a spec operation, read once at start-up.
type operation struct {
	route       *routers.Route
	public      bool     // x-ctms-public
	permissions []string // x-ctms-permissions
	hasBody     bool
	hasJSONBody bool
	body        *fastapi.Model // of the JSON body
	params      []param        // the path item's, then the operation's (as kin-openapi orders them)
	handler     handler        // operationHandlers
}

type param struct {
	*openapi3.Parameter
	// plain: a string, maybe a UUID, and nothing else to check (plainValid).
	plain bool
	bind  func(*call, string) error // paramBinders
}

func newOperation(rt *routers.Route) *operation {
	op := rt.Operation
	o := &operation{route: rt, public: isPublic(op), permissions: requiredPermissions(op),
		handler: operationHandlers[rt.Method+" "+rt.Path]}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		o.hasBody = true
		if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
			o.hasJSONBody = true
			if mt.Schema != nil {
				model, err := fastapi.NewModel(mt.Schema.Value)
				if err != nil { // api/openapi.yaml is embedded: a test finds this first
					panic(fmt.Sprintf("%s %s: request body: %v", rt.Method, rt.Path, err))
				}
				o.body = model
			}
		}
	}
	for _, ref := range rt.PathItem.Parameters {
		if op.Parameters.GetByInAndName(ref.Value.In, ref.Value.Name) == nil {
			o.params = append(o.params, newParam(ref.Value))
		}
	}
	for _, ref := range op.Parameters {
		o.params = append(o.params, newParam(ref.Value))
	}
	return o
}

// checkBodies fails when a JSON body needs a check that checks lack
// (fastapi.Model.Verify): New refuses to start rather than leave it unchecked.
func checkBodies(ops map[string]*operation, checks *fastapi.Checks) error {
	for pattern, op := range ops {
		if op.body == nil {
			continue
		}
		if err := op.body.Verify(checks); err != nil {
			return fmt.Errorf("%s: request body: %w", pattern, err)
		}
	}
	return nil
}

func newParam(p *openapi3.Parameter) param {
	return param{Parameter: p, plain: isPlain(p), bind: paramBinders[p.In+" "+p.Name]}
}

// isPlain tells whether a parameter's schema is only a string, possibly of
// format uuid: the identifiers of GET /ctms/{email_id} and GET /ctms?....
func isPlain(p *openapi3.Parameter) bool {
	if p.Content != nil || p.Schema == nil || p.Schema.Value == nil || (p.In != "path" && p.In != "query") {
		return false
	}
	s := p.Schema.Value
	return s.Type != nil && len(*s.Type) == 1 && s.Type.Is("string") && (s.Format == "" || s.Format == "uuid") &&
		len(s.Enum) == 0 && s.Pattern == "" && s.MinLength == 0 && s.MaxLength == nil &&
		len(s.AllOf) == 0 && len(s.OneOf) == 0 && len(s.AnyOf) == 0 && s.Not == nil
}

// plainValid accepts, without kin-openapi, the value of a plain parameter that
// kin-openapi would accept: one non-empty value, a UUID where the format says
// so (the check server.go registers for the format), or an optional parameter
// left out. Anything else goes to kin-openapi, which says what is wrong.
func plainValid(p *openapi3.Parameter, path map[string]string, q url.Values) bool {
	var v string
	switch p.In {
	case "path":
		pv, ok := path[p.Name]
		if !ok {
			return false
		}
		v = pv
	case "query":
		vs := q[p.Name]
		if len(vs) == 0 {
			return !p.Required
		}
		if len(vs) > 1 {
			return false
		}
		v = vs[0]
	}
	if v == "" {
		return false
	}
	if p.Schema.Value.Format == "uuid" {
		_, why := fastapi.ParseUUID(v)
		return why == ""
	}
	return true
}

// isJSONContent tells whether FastAPI parses the body as JSON: no content type,
// application/json or application/*+json.
func isJSONContent(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "" || mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
