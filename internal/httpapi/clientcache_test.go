package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/httpapi"
	"github.com/ctms-go/ctms/internal/testdb"
)

// With the client cache on, a disabled client keeps access for at most the TTL.
func TestClientCacheExpires(t *testing.T) {
	t.Parallel()
	a := newAPIOn(t, testdb.Pool(t), httpapi.WithClientCacheTTL(300*time.Millisecond))
	path := "/ctms/" + uuid.NewString()
	require.Equal(t, http.StatusNotFound, a.do("GET", path, nil).Status)
	a.exec(`UPDATE api_client SET enabled = false WHERE client_id = $1`, a.clientID)
	require.Equal(t, http.StatusNotFound, a.do("GET", path, nil).Status, "served from the cache")
	require.Eventually(t, func() bool {
		return a.do("GET", path, nil).Status == http.StatusBadRequest
	}, 3*time.Second, 50*time.Millisecond, "the change must show once the entry expires")
}
