package httpapi

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// The dispatch tables name nothing the spec does not have: a handler or binder
// left behind when an operation or parameter leaves api/openapi.yaml stops New.
func TestDispatchTablesMatchTheSpec(t *testing.T) {
	t.Parallel()
	spec, _, err := loadSpec()
	require.NoError(t, err)
	ops := specOperations(spec)
	require.NoError(t, checkDispatch(ops))

	withoutOp := maps.Clone(ops)
	delete(withoutOp, "GET /identities")
	require.ErrorContains(t, checkDispatch(withoutOp), `operationHandlers: "GET /identities" matches no spec operation`)

	withoutParam := maps.Clone(ops)
	updates := *ops["GET /updates"]
	updates.params = slices.DeleteFunc(slices.Clone(updates.params), func(p param) bool { return p.Name == "mofo_relevant" })
	withoutParam["GET /updates"] = &updates
	require.ErrorContains(t, checkDispatch(withoutParam), `paramBinders: "query mofo_relevant" matches no spec parameter`)
}
