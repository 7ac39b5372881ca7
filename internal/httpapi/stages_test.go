package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/oapi-codegen/runtime"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/fastapi"
	"github.com/ctms-go/ctms/internal/store"
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

// The body is decoded once, by the read body stage; validate checks it and maps
// it to the call's patch (lax booleans read, waitlist fields as sent); the
// generated binder is handed an empty object, never text to decode again.
func TestBodyDecodedOnce(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	op := specOperations(spec)["PATCH /ctms/{email_id}"]
	id := "332de237-cab7-4461-bcc3-48e68f42bd5c"
	body := `{"email":{"has_opted_out_of_email":"yes"},"waitlists":[{"name":"vpn","fields":{"z":1, "a":2}}]}`
	r := httptest.NewRequest("PATCH", "/ctms/"+id, strings.NewReader(body))
	c := &call{w: httptest.NewRecorder(), r: r, op: op,
		rt: &route{pattern: "/ctms/{email_id}", spec: op.route, op: op, params: map[string]string{"email_id": id}}}
	s := &server{cfg: &config.Config{}, bodyChecks: &fastapi.Checks{URL: urlProblem}}
	for _, stage := range []func(*server, *call) error{(*server).readBody, (*server).normalise, (*server).validate} {
		require.NoError(t, stage(s, c))
	}
	require.NotNil(t, c.patch)
	require.Equal(t, true, *c.patch.Email.HasOptedOutOfEmail)
	require.Equal(t, json.RawMessage(`{"z":1, "a":2}`), c.patch.Waitlists[0].Fields)

	bound, ok := c.r.Body.(interface{ ValidatedValue() any })
	require.True(t, ok)
	require.Equal(t, map[string]any{}, bound.ValidatedValue())
	var patch api.PartialUpdateCtmsContactJSONRequestBody
	require.NoError(t, runtime.BindJSONBody(c.r, &patch))
}
