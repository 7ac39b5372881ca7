package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

// A rule added while the server runs applies at once, and a violation is a 422 naming the waitlist and the field.
func TestWaitlistFieldRuleChangeWhileServing(t *testing.T) {
	t.Parallel()
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithAccessFeed(startFeed(t, testdb.Pool(t))))

	waitlist := "beta-" + uuid.NewString()[:8]
	body := func(color string) map[string]any {
		id := uuid.NewString()
		return map[string]any{
			"email":     map[string]any{"email_id": id, "primary_email": id + "@example.com"},
			"waitlists": []any{map[string]any{"name": waitlist, "fields": map[string]any{"color": color}}},
		}
	}
	require.Equal(t, http.StatusCreated, a.do("POST", "/ctms", body("green")).Status)

	st := store.New(a.pool)
	require.NoError(t, st.SetWaitlistFieldRule(context.Background(),
		contact.FieldRule{Waitlist: waitlist, Field: "color", AllowedValues: []string{"red", "blue"}}))
	t.Cleanup(func() { _ = st.DeleteWaitlistFieldRule(context.Background(), waitlist, "color") })

	var r *response
	require.Eventually(t, func() bool {
		r = a.do("POST", "/ctms", body("green"))
		return r.Status == http.StatusUnprocessableEntity
	}, time.Second, 20*time.Millisecond, "the new rule was not picked up")
	item := r.Object(t)["detail"].([]any)[0].(map[string]any)
	require.Equal(t, "literal_error", item["type"])
	require.Equal(t, []any{"body", "waitlists", float64(0), "color"}, item["loc"])
	require.Equal(t, "Input should be one of 'red', 'blue' (waitlist '"+waitlist+"', field 'color')", item["msg"])
	require.Equal(t, http.StatusCreated, a.do("POST", "/ctms", body("red")).Status)

	// PATCH is checked by the same rules.
	id := uuid.NewString()
	require.Equal(t, http.StatusCreated, a.do("POST", "/ctms", map[string]any{"email": map[string]any{"email_id": id, "primary_email": id + "@example.com"}}).Status)
	r = a.do("PATCH", "/ctms/"+id, map[string]any{"waitlists": []any{map[string]any{"name": waitlist, "fields": map[string]any{"color": "green"}}}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
}
