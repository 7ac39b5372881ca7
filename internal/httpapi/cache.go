package httpapi

import (
	"context"
	"sync"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/store"
)

// versionedCache keeps values read from the access tables (API clients, waitlist
// field rules), so a request does not cost a database round trip before its own
// work. A value is used only while the access feed (WithAccessFeed) is live and
// still at the version the value was read under: any change to those tables,
// made by anyone, moves the version within milliseconds, and the feed moves it
// every refresh period too, which is the values' expiry (internal/accessfeed).
// Without a live feed every request reads.
type versionedCache[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]versioned[V]
}

type versioned[V any] struct {
	value   V
	version accessfeed.Version
}

// maxCacheEntries bounds a cache; deployments have a handful of clients.
const maxCacheEntries = 1024

// get returns the value of key: the cached one while current, else what read
// returns (cached unless it fails: an unknown client is never cached, so a later
// `clients create` works at once).
func (c *versionedCache[K, V]) get(feed *accessfeed.Feed, key K, read func() (V, error)) (V, error) {
	return c.load(feed, key, read, false)
}

// getOrLast is get, but a failed read answers with the last value read for key, if any.
func (c *versionedCache[K, V]) getOrLast(feed *accessfeed.Feed, key K, read func() (V, error)) (V, error) {
	return c.load(feed, key, read, true)
}

func (c *versionedCache[K, V]) load(feed *accessfeed.Feed, key K, read func() (V, error), orLast bool) (V, error) {
	// The version is taken before the read: a change committed during the read moves
	// it, so the value stored below is never used.
	v := feed.Version()
	c.mu.Lock()
	e, found := c.entries[key]
	c.mu.Unlock()
	if found && v.Live() && e.version == v {
		return e.value, nil
	}
	value, err := read()
	if err != nil {
		if found && orLast {
			return e.value, nil
		}
		return value, err
	}
	if !v.Live() && !orLast {
		return value, nil // would never be used
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCacheEntries {
		c.entries = make(map[K]versioned[V])
	}
	c.entries[key] = versioned[V]{value: value, version: v}
	c.mu.Unlock()
	return value, nil
}

// apiClient returns the client with its permissions (store.APIClient), cached.
func (s *server) apiClient(ctx context.Context, id string) (store.APIClient, error) {
	return s.clientCache.get(s.feed, id, func() (store.APIClient, error) { return s.store.APIClient(ctx, id) })
}

// waitlistRules returns the waitlist field rules (waitlist_field_rules), cached;
// when they cannot be read, the last rules read, if any.
func (s *server) waitlistRules(ctx context.Context) (contact.FieldRules, error) {
	return s.rules.getOrLast(s.feed, struct{}{}, func() (contact.FieldRules, error) { return s.store.WaitlistFieldRules(ctx) })
}
