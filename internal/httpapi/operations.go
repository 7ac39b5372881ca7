package httpapi

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/fastapi"
)

// Dispatch: every operation of api/openapi.yaml is served by serveOperation,
// which runs the request stages (stages.go) and then the operation's handler,
// named once in operationHandlers. The API handlers have typed signatures: they
// take the parameters and body the validate stage bound into the call, and
// return their own response shape (jsonwrite.go), or the error writeError
// answers.

// response is a successful answer of an API operation; each shape writes itself.
type response interface {
	write(w http.ResponseWriter)
}

// handler serves one operation: api handlers answer with a response or an
// error; plain ones (the platform operations) write their answer themselves.
type handler struct {
	api   func(s *server, c *call) (response, error)
	plain func(s *server, w http.ResponseWriter, c *call)
}

// answer adapts a typed handler's result to the table.
func answer[R response](r R, err error) (response, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// operationHandlers names the handler of each operation, by ServeMux pattern
// (method and spec path). New refuses to start unless its keys are exactly the
// spec operations (checkDispatch).
var operationHandlers = map[string]handler{
	"GET /ctms": {api: func(s *server, c *call) (response, error) {
		return answer(s.readContacts(c.r.Context(), &c.ids))
	}},
	"POST /ctms": {api: func(s *server, c *call) (response, error) {
		return answer(s.createContact(c.r.Context(), c.patch))
	}},
	"GET /ctms/{email_id}": {api: func(s *server, c *call) (response, error) {
		return answer(s.readContact(c.r.Context(), c.emailID))
	}},
	"PUT /ctms/{email_id}": {api: func(s *server, c *call) (response, error) {
		return answer(s.replaceContact(c.r.Context(), c.emailID, c.patch))
	}},
	"PATCH /ctms/{email_id}": {api: func(s *server, c *call) (response, error) {
		return answer(s.patchContact(c.r.Context(), c.emailID, c.patch))
	}},
	"DELETE /ctms/{primary_email}": {api: func(s *server, c *call) (response, error) {
		return answer(s.deleteContacts(c.r.Context(), c.primaryEmail))
	}},
	"GET /updates": {api: func(s *server, c *call) (response, error) {
		return answer(s.readUpdates(c.r.Context(), &c.page))
	}},
	"GET /deletions": {api: func(s *server, c *call) (response, error) {
		return answer(s.readDeletions(c.r.Context(), &c.page))
	}},
	"GET /identities": {api: func(s *server, c *call) (response, error) {
		return answer(s.readIdentities(c.r.Context(), &c.ids))
	}},
	"GET /identity/{email_id}": {api: func(s *server, c *call) (response, error) {
		return answer(s.readIdentity(c.r.Context(), c.emailID))
	}},

	"POST /token":           {plain: func(s *server, w http.ResponseWriter, c *call) { s.token(w, c.r, c.body) }},
	"GET /__heartbeat__":    {plain: func(s *server, w http.ResponseWriter, c *call) { s.heartbeat(w, c.r) }},
	"HEAD /__heartbeat__":   {plain: func(s *server, w http.ResponseWriter, c *call) { s.heartbeat(w, c.r) }},
	"GET /__lbheartbeat__":  {plain: func(s *server, w http.ResponseWriter, c *call) { s.lbHeartbeat(w, c.r) }},
	"HEAD /__lbheartbeat__": {plain: func(s *server, w http.ResponseWriter, c *call) { s.lbHeartbeat(w, c.r) }},
	"GET /__version__":      {plain: func(s *server, w http.ResponseWriter, c *call) { s.version(w, c.r) }},
	"GET /metrics":          {plain: func(s *server, w http.ResponseWriter, c *call) { s.metricsHTTP.ServeHTTP(w, c.r) }},
}

// serveOperation serves a request routed to a spec operation (middleware.go):
// the request stages, then the operation's handler.
func (s *server) serveOperation(w http.ResponseWriter, r *http.Request) {
	rt := routeOf(r)
	if rt == nil || rt.op == nil {
		writeError(w, r, notFound("Not Found")) // only reached without the routing middleware
		return
	}
	c := &call{w: w, r: r, rt: rt, op: rt.op}
	defer func() {
		if c.cancel != nil {
			c.cancel()
		}
	}()
	for _, stage := range requestStages {
		if err := stage.run(s, c); err != nil {
			writeError(w, c.r, err)
			return
		}
	}
	h := c.op.handler
	if h.plain != nil {
		h.plain(s, w, c)
		return
	}
	resp, err := h.api(s, c)
	if err != nil {
		writeError(w, c.r, err)
		return
	}
	resp.write(w)
}

// checkDispatch fails when a spec operation has no handler or a parameter no
// binder, so that an operation added to api/openapi.yaml is served on purpose;
// and when a handler or binder matches nothing in the spec, so that one whose
// operation or parameter left (or was misspelt) does not linger unserved.
func checkDispatch(ops map[string]*operation) error {
	params := map[string]bool{} // "in name" of every spec parameter
	for pattern, op := range ops {
		if op.handler.api == nil && op.handler.plain == nil {
			return fmt.Errorf("%s has no handler (operationHandlers)", pattern)
		}
		for _, p := range op.params {
			if p.bind == nil {
				return fmt.Errorf("%s: parameter %s %q has no binder (paramBinders)", pattern, p.In, p.Name)
			}
			params[p.In+" "+p.Name] = true
		}
	}
	for _, pattern := range slices.Sorted(maps.Keys(operationHandlers)) {
		if ops[pattern] == nil {
			return fmt.Errorf("operationHandlers: %q matches no spec operation", pattern)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(paramBinders)) {
		if !params[key] {
			return fmt.Errorf("paramBinders: %q matches no spec parameter", key)
		}
	}
	return nil
}

// paramBinders store a parameter's value in the call, by location and name.
// They run after validation, on the value as FastAPI reads it (normalise: the
// last of repeated values, lax booleans read, empty optional values absent).
var paramBinders = map[string]func(c *call, v string) error{
	"path email_id":      func(c *call, v string) (err error) { c.emailID, err = bindUUID("email_id", v); return err },
	"path primary_email": func(c *call, v string) error { c.primaryEmail = v; return nil },

	"query email_id":          func(c *call, v string) error { return bindOptUUID(&c.ids.EmailId, "email_id", v) },
	"query basket_token":      func(c *call, v string) error { return bindOptUUID(&c.ids.BasketToken, "basket_token", v) },
	"query primary_email":     func(c *call, v string) error { c.ids.PrimaryEmail = &v; return nil },
	"query sfdc_id":           func(c *call, v string) error { c.ids.SfdcId = &v; return nil },
	"query mofo_contact_id":   func(c *call, v string) error { c.ids.MofoContactId = &v; return nil },
	"query mofo_email_id":     func(c *call, v string) error { c.ids.MofoEmailId = &v; return nil },
	"query amo_user_id":       func(c *call, v string) error { c.ids.AmoUserId = &v; return nil },
	"query fxa_id":            func(c *call, v string) error { c.ids.FxaId = &v; return nil },
	"query fxa_primary_email": func(c *call, v string) error { c.ids.FxaPrimaryEmail = &v; return nil },

	"query start": func(c *call, v string) error { c.page.Start = v; return nil },
	"query end":   func(c *call, v string) error { c.page.End = &v; return nil },
	"query after": func(c *call, v string) error { c.page.After = &v; return nil },
	"query limit": func(c *call, v string) error {
		n, err := strconv.ParseInt(v, 10, 64) // as the spec's validation parses an integer
		if err != nil {
			return bindError("limit", err)
		}
		limit := int(n)
		c.page.Limit = &limit
		return nil
	},
	"query mofo_relevant": func(c *call, v string) error {
		b, ok := fastapi.LaxBool(v)
		if !ok {
			return bindError("mofo_relevant", fmt.Errorf("%q is not a boolean", v))
		}
		c.page.MofoRelevant = &b
		return nil
	},
}

// bindError is a value validation let through but that does not fit its type:
// a bug, answered 422 as FastAPI answers a value it cannot read.
func bindError(name string, err error) error {
	return invalid(ValidationItem{Type: "value_error", Loc: []any{},
		Msg: fmt.Sprintf("Value error, invalid format for parameter %s: %v", name, err)})
}

func bindUUID(name, v string) (api.PathEmailId, error) {
	id, why := fastapi.ParseUUID(v)
	if why != "" {
		return id, bindError(name, fmt.Errorf("%s", why))
	}
	return id, nil
}

func bindOptUUID(dst **api.QueryEmailId, name, v string) error {
	id, err := bindUUID(name, v)
	if err == nil {
		*dst = &id
	}
	return err
}
