package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

// Expected outcomes are answered by one error writer (writeError); every status it
// can give an operation must be one api/openapi.yaml declares for that operation.
// The handler tests check each status they receive (harness_test.go, checkContract);
// this test checks the statuses of the stages, which apply to every operation alike,
// and those writeError gives errors of its own. Only 500 (a bug) and 499 (the client
// went away and reads nothing) are outside the spec.
func TestStageStatusesAreDeclared(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	for pattern, op := range specOperations(spec) {
		declared := map[int]bool{}
		for code := range op.route.Operation.Responses.Map() {
			if n, err := strconv.Atoi(code); err == nil {
				declared[n] = true
			}
		}
		var answers []string
		for _, st := range requestStages {
			for _, status := range st.answers(op) {
				require.True(t, declared[status], "%s: stage %q answers %d, which the spec does not declare", pattern, st.name, status)
				answers = append(answers, fmt.Sprintf("%s:%d", st.name, status))
			}
		}
		if !op.public {
			// Every non-public operation reads the database (its client, at least).
			status := writtenStatus(t, fmt.Errorf("read: %w", store.ErrUnavailable))
			require.True(t, declared[status], "%s: a database outage answers %d, which the spec does not declare", pattern, status)
			require.NotEmpty(t, answers, pattern)
		}
	}
}

// writtenStatus is the status writeError answers err with.
func writtenStatus(t *testing.T, err error) int {
	t.Helper()
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/ctms", nil), err)
	return rec.Code
}

// The statuses outside the spec are what writeError gives errors nobody expected.
func TestWriteErrorStatuses(t *testing.T) {
	t.Parallel()
	require.Equal(t, http.StatusServiceUnavailable, writtenStatus(t, store.ErrUnavailable))
	require.Equal(t, http.StatusInternalServerError, writtenStatus(t, errors.New("unexpected")))
	require.Equal(t, http.StatusConflict, writtenStatus(t, fmt.Errorf("wrapped: %w", conflict("x"))))
	require.Equal(t, http.StatusUnprocessableEntity, writtenStatus(t, invalid(ValidationItem{Type: "missing"})))
}

// The stages are named once, in the order the Python CTMS checks a request.
func TestStageOrder(t *testing.T) {
	var names []string
	for _, st := range requestStages {
		names = append(names, st.name)
	}
	require.Equal(t, []string{"deadline", "read body", "authenticate", "authorise", "normalise", "validate"}, names)
}

// The body is decoded once, by the read body stage; validate maps that tree
// into the call's patch, lax booleans read and waitlist fields as sent.
func TestBodyDecodedOnceIntoThePatch(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	op := specOperations(spec)["PATCH /ctms/{email_id}"]
	id := "332de237-cab7-4461-bcc3-48e68f42bd5c"
	body := `{"email":{"has_opted_out_of_email":"yes","email_id":null},"waitlists":[{"name":"a-list","fields":{"z":1, "a":2}}]}`
	r := httptest.NewRequest("PATCH", "/ctms/"+id, strings.NewReader(body))
	c := &call{w: httptest.NewRecorder(), r: r, op: op,
		rt: &route{pattern: "/ctms/{email_id}", spec: op.route, op: op, params: map[string]string{"email_id": id}}}
	s := stagesServer(t)
	for _, stage := range []func(*server, *call) error{(*server).readBody, (*server).normalise, (*server).validate} {
		err := stage(s, c)
		require.NoError(t, err, "%#v", err)
	}
	require.Equal(t, uuid.MustParse(id), c.emailID)
	require.NotNil(t, c.patch)
	require.Equal(t, true, *c.patch.Email.HasOptedOutOfEmail)
	require.True(t, c.patch.Email.EmailIDNull, `"email_id": null is told apart`)
	require.JSONEq(t, `{"z":1, "a":2}`, string(c.patch.Waitlists[0].Fields))
	fields := string(c.patch.Waitlists[0].Fields)
	require.Less(t, strings.Index(fields, `"z"`), strings.Index(fields, `"a"`), "the members in the order sent")
}

// stagesServer is a server with what the stages need: a configuration and the
// database the waitlist field rules are read from.
func stagesServer(t *testing.T) *server {
	s := &server{cfg: &config.Config{}, store: store.New(testdb.Pool(t))}
	s.bodyChecks = s.newBodyChecks()
	return s
}

// The stages read the request, never rewrite it: the query as sent stays in
// r.URL, the Content-Type as sent in r.Header, the body is not replaced.
func TestStagesLeaveTheRequestAsSent(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	ops := specOperations(spec)
	s := stagesServer(t)
	run := func(c *call) {
		t.Helper()
		for _, stage := range []func(*server, *call) error{(*server).readBody, (*server).normalise, (*server).validate} {
			require.NoError(t, stage(s, c))
		}
	}

	query := "start=2020-01-01&limit=5&limit=7&mofo_relevant=yes&end=&after="
	r := httptest.NewRequest("GET", "/updates?"+query, nil)
	op := ops["GET /updates"]
	c := &call{w: httptest.NewRecorder(), r: r, op: op, rt: &route{pattern: "/updates", spec: op.route, op: op, params: map[string]string{}}}
	run(c)
	require.Equal(t, query, c.r.URL.RawQuery, "the query is read, not rewritten")
	require.Equal(t, api.ReadCtmsInBulkByUpdatedDateParams{Start: "2020-01-01", Limit: new(7), MofoRelevant: new(true)}, c.page,
		"bound as Starlette reads the query: the last limit, a lax boolean, empty values absent")

	id := "332de237-cab7-4461-bcc3-48e68f42bd5c"
	r = httptest.NewRequest("PATCH", "/ctms/"+id, strings.NewReader(`{"email":{"first_name":"A"}}`))
	r.Header.Set("Content-Type", "application/merge-patch+json")
	body := r.Body
	op = ops["PATCH /ctms/{email_id}"]
	c = &call{w: httptest.NewRecorder(), r: r, op: op,
		rt: &route{pattern: "/ctms/{email_id}", spec: op.route, op: op, params: map[string]string{"email_id": id}}}
	run(c)
	require.Equal(t, "application/merge-patch+json", c.r.Header.Get("Content-Type"), "the content type is read, not rewritten")
	require.Equal(t, body, c.r.Body, "the body is read, not replaced")
}

// An error nobody expected is the Python CTMS's uncaught exception: Starlette's
// ServerErrorMiddleware answers it 500 in plain text, without a detail.
func TestUnexpectedErrorIsPlainText(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/ctms", nil), errors.New("unexpected"))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, "Internal Server Error", rec.Body.String())
}

// Every spec operation has its handler and every parameter its binder; an
// operation without one stops New (checkDispatch), never answers at random.
func TestEveryOperationIsDispatched(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	ops := specOperations(spec)
	require.NoError(t, checkDispatch(ops))
	require.Len(t, operationHandlers, len(ops), "no handler for an operation the spec does not have")

	op := *ops["GET /updates"]
	op.handler = handler{}
	require.ErrorContains(t, checkDispatch(map[string]*operation{"GET /updates": &op}), "no handler")
	op = *ops["GET /updates"]
	op.params = append([]param(nil), op.params...)
	op.params[0].bind = nil
	require.ErrorContains(t, checkDispatch(map[string]*operation{"GET /updates": &op}), "no binder")
}

// Every JSON body's model has what it needs beyond api/openapi.yaml (source
// URLs checked, waitlist items' check_fields): New refuses to start otherwise.
func TestBodyModelsHaveTheirChecks(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	ops := specOperations(spec)
	s := &server{}
	require.NoError(t, checkBodies(ops, s.newBodyChecks()))
	noURL := s.newBodyChecks()
	noURL.URL = nil
	require.ErrorContains(t, checkBodies(ops, noURL), "URL")
	noFields := s.newBodyChecks()
	delete(noFields.After, "check_fields")
	require.ErrorContains(t, checkBodies(ops, noFields), "check_fields")
}
