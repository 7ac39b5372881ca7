package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/ctms-go/ctms/internal/store"
)

// clientCache keeps API clients (with their permissions) for a few seconds, so
// an authenticated request does not cost a database round trip before its own
// work. Disabling a client, deleting it or changing its roles therefore takes
// effect within ttl (0 turns the cache off).
type clientCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]cachedClient
}

type cachedClient struct {
	client store.APIClient
	loaded time.Time
}

// maxCachedClients bounds the cache; deployments have a handful of clients.
const maxCachedClients = 1024

// apiClient returns the client, from the cache when fresh. Unknown clients are
// not cached (a later `clients create` must work at once).
func (s *server) apiClient(ctx context.Context, id string) (store.APIClient, error) {
	c := &s.clientCache
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.entries[id]
		c.mu.Unlock()
		if ok && time.Since(e.loaded) < c.ttl {
			return e.client, nil
		}
	}
	client, err := s.store.APIClient(ctx, id)
	if err != nil || c.ttl <= 0 {
		return client, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedClients {
		clear(c.entries)
	}
	c.entries[id] = cachedClient{client: client, loaded: time.Now()}
	c.mu.Unlock()
	return client, nil
}
