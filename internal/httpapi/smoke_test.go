package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestSmokeCreateAndRead(t *testing.T) {
	a := newAPI(t)
	id := uuid.NewString()
	r := a.do("POST", "/ctms", map[string]any{"email": map[string]any{"email_id": id, "primary_email": id + "@example.com"},
		"newsletters": []any{map[string]any{"name": "mozilla-welcome", "source": "http://Example.com"}},
		"waitlists":   []any{map[string]any{"name": "vpn", "fields": map[string]any{"geo": "fr", "platform": "ios"}}}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	t.Logf("%s", r.Body)
	r = a.do("GET", "/ctms/"+id, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	t.Logf("%s", r.Body)
}
