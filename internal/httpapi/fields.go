package httpapi

import (
	"context"
	"sync"

	"github.com/ctms-go/ctms/internal/accessfeed"
	"github.com/ctms-go/ctms/internal/contact"
)

// urlProblem explains why s is not an absolute URL, in pydantic's words ("" if it is one).
func urlProblem(s string) string {
	_, why := contact.NormaliseSource(s)
	return why
}

// fieldRules caches the waitlist field rules (waitlist_field_rules) as
// clientCache caches clients: while the access feed is live and at the version
// they were read under; otherwise they are read for each request that needs them.
type fieldRules struct {
	mu      sync.Mutex
	rules   contact.FieldRules
	version accessfeed.Version
}

// waitlistRules returns the current rules.
func (s *server) waitlistRules(ctx context.Context) (contact.FieldRules, error) {
	c := &s.rules
	v := s.feed.Version() // taken before the read, as in apiClient
	c.mu.Lock()
	cached, version := c.rules, c.version
	c.mu.Unlock()
	if cached != nil && v.Live() && version == v {
		return cached, nil
	}
	rules, err := s.store.WaitlistFieldRules(ctx)
	if err != nil {
		if cached != nil {
			return cached, nil // keep serving with the last rules read
		}
		return nil, err
	}
	c.mu.Lock()
	c.rules, c.version = rules, v
	c.mu.Unlock()
	return rules, nil
}
