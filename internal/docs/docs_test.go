package docs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ReDoc bundle makes the browser fetch nothing from another host (make e2e checks the
// pages in Chromium).
func TestRedocBundleIsSelfContained(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, "/openapi.json")
	srv := httptest.NewServer(mux)
	defer srv.Close()

	rsp, err := http.Get(srv.URL + "/redoc/assets/redoc.standalone.js")
	require.NoError(t, err)
	defer rsp.Body.Close()
	require.Equal(t, http.StatusOK, rsp.StatusCode)
	require.Contains(t, rsp.Header.Get("Content-Type"), "javascript")
	body, err := io.ReadAll(rsp.Body)
	require.NoError(t, err)
	require.Greater(t, len(body), 100_000)
	require.NotContains(t, string(body), redocLogo)
	// No image, script or style is loaded from an absolute URL.
	require.NotRegexp(t, regexp.MustCompile(`src:"https?://`), string(body))
}
