package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// A request its client abandoned is not a server error (499, no 5xx, no Sentry).
func TestWriteErrorClientGone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/updates", nil)
	w := httptest.NewRecorder()
	writeError(w, r, fmt.Errorf("updates first page: %w", context.Canceled))
	require.Equal(t, statusClientClosedRequest, w.Code)

	// The same error while the client is still there is a real failure.
	w = httptest.NewRecorder()
	writeError(w, httptest.NewRequest(http.MethodGet, "/updates", nil), errors.New("boom"))
	require.Equal(t, http.StatusInternalServerError, w.Code)
}
