package fastapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every item of a refused body is answered (pydantic reports them all), so
// finding the text of each item's input must not rescan the body per item: a
// body of 100k empty items (300 kB) gives 100k `missing` items, each echoing
// its item. Rescanning took minutes here; one index of the body takes
// milliseconds, so the bound below is generous (-race, a shared machine).
func TestKeepClientOrderIsLinear(t *testing.T) {
	const n = 100_000
	body := []byte(`{"zeta":"a","items":[` + strings.TrimSuffix(strings.Repeat(`{ },`, n), ",") + `]}`)
	m := walkModel(t)
	d, err := m.Decode(body)
	require.NoError(t, err)
	_, items, err := m.Check(context.Background(), d, walkChecks)
	require.NoError(t, err)
	require.Len(t, items, n)

	done := make(chan struct{})
	go func() {
		defer close(done)
		err = KeepClientOrder(context.Background(), items, body)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("KeepClientOrder did not finish in 20 s")
	}
	require.NoError(t, err)
	require.Equal(t, json.RawMessage(`{}`), items[0].Input)
	require.Equal(t, json.RawMessage(`{}`), items[n-1].Input)
}

// A request that ends (client gone, deadline) stops the work.
func TestKeepClientOrderStopsWithTheRequest(t *testing.T) {
	items := []ValidationItem{{Type: "missing", Loc: []any{"body", "x"}, Input: map[string]any{}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, KeepClientOrder(ctx, items, []byte(`{}`)), context.Canceled)
	require.Equal(t, map[string]any{}, items[0].Input)
}

// The text at each loc: members (the last of repeated names), elements, union
// tags and missing fields skipped, the input's own shape checked.
func TestKeepClientOrderFindsInputs(t *testing.T) {
	body := []byte(` {"a": {"z": 1, "b": [ {"y":2 , "x":3}, [4, 5] ]}, "a": {"z": 2, "b": [{}, [6]]}, "s": "t"} `)
	cases := []struct {
		loc   []any
		input any
		want  any
	}{
		{[]any{"body", "missing"}, map[string]any{"a": 0, "s": 0}, json.RawMessage(`{"a":{"z":1,"b":[{"y":2,"x":3},[4,5]]},"a":{"z":2,"b":[{},[6]]},"s":"t"}`)},
		{[]any{"body", "a", "tag", "b"}, []any{0, 0}, json.RawMessage(`[{},[6]]`)},
		{[]any{"body", "a", "b", 1, "tag"}, []any{0}, json.RawMessage(`[6]`)},
		{[]any{"body", "a", "b", float64(0), "name"}, map[string]any{}, json.RawMessage(`{}`)},
		{[]any{"body", "a", "b", 2}, map[string]any{}, map[string]any{}},                      // no such element
		{[]any{"body", "a", "b", 1}, map[string]any{}, map[string]any{}},                      // not the same shape
		{[]any{"body", "s", 0}, map[string]any{}, map[string]any{}},                           // no element of a string
		{[]any{"query", "a"}, map[string]any{"z": 0, "b": 0}, map[string]any{"z": 0, "b": 0}}, // not the body's
	}
	for _, c := range cases {
		items := []ValidationItem{{Loc: c.loc, Input: c.input}}
		require.NoError(t, KeepClientOrder(context.Background(), items, body))
		require.Equal(t, c.want, items[0].Input, "%v", c.loc)
	}
}
