package httpapi

import (
	"context"
	"sync"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/store"
)

// clientCache keeps API clients (with their permissions), so an authenticated
// request does not cost a database round trip before its own work. An entry is
// used only while the access feed (WithAccessFeed) is live and at the version it
// was read under: any change to the access tables, made by anyone, moves the
// version within milliseconds (internal/accessfeed). Without a live feed every
// request reads the client.
type clientCache struct {
	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	client  store.APIClient
	version accessfeed.Version
}

// maxCachedClients bounds the cache; deployments have a handful of clients.
const maxCachedClients = 1024

// apiClient returns the client, from the cache when current. Unknown clients are
// not cached (a later `clients create` must work at once).
func (s *server) apiClient(ctx context.Context, id string) (store.APIClient, error) {
	c := &s.clientCache
	// The version is taken before the read: a change committed during the read moves
	// it, so the entry stored below is never used.
	v := s.feed.Version()
	if v.Live() {
		c.mu.Lock()
		e, ok := c.entries[id]
		c.mu.Unlock()
		if ok && e.version == v {
			return e.client, nil
		}
	}
	client, err := s.store.APIClient(ctx, id)
	if err != nil || !v.Live() {
		return client, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedClients {
		clear(c.entries)
	}
	c.entries[id] = cachedClient{client: client, version: v}
	c.mu.Unlock()
	return client, nil
}
