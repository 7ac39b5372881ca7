package store

import "context"

// APIClient is what request authentication needs of an api_client row.
type APIClient struct {
	ClientID     string
	Enabled      bool // a NULL enabled counts as disabled
	HashedSecret string
	Admin        bool     // holds the role "admin": every permission
	Permissions  []string // permissions of its roles
}

// HasAny reports whether the client may do what needs any of perms.
func (c *APIClient) HasAny(perms []string) bool {
	if c.Admin {
		return true
	}
	for _, want := range perms {
		for _, have := range c.Permissions {
			if want == have {
				return true
			}
		}
	}
	return false
}

// APIClient loads a client with its permissions; ErrNotFound when there is none.
func (s *Store) APIClient(ctx context.Context, clientID string) (APIClient, error) {
	c, err := s.q.APIClientAccess(ctx, s.db, clientID)
	if err != nil {
		return APIClient{}, mapError("api client get", err)
	}
	return APIClient{ClientID: c.ClientID, Enabled: orFalse(c.Enabled), HashedSecret: c.HashedSecret,
		Admin: c.IsAdmin, Permissions: c.Permissions}, nil
}

// TouchLastAccess records an access by the client (at most once a minute in SQL too).
func (s *Store) TouchLastAccess(ctx context.Context, clientID string) error {
	_, err := s.q.APIClientTouchLastAccess(ctx, s.db, clientID)
	return mapError("api client touch", err)
}

// EnabledClientIDs lists the enabled clients, ordered by id (for metrics start-up).
func (s *Store) EnabledClientIDs(ctx context.Context) ([]string, error) {
	ids, err := s.q.APIClientListEnabledIDs(ctx, s.db)
	return ids, mapError("api clients enabled", err)
}

// ContactsEstimate is the contact count the heartbeat publishes: the planner's
// estimate, or 0/1 (are there any?) while the table was never analysed.
func (s *Store) ContactsEstimate(ctx context.Context) (int64, error) {
	n, err := s.q.ContactsEstimate(ctx, s.db)
	if err != nil {
		return 0, mapError("contacts estimate", err)
	}
	if n >= 0 {
		return n, nil
	}
	found, err := s.q.ContactsExist(ctx, s.db)
	if err != nil {
		return 0, mapError("contacts exist", err)
	}
	if found {
		return 1, nil
	}
	return 0, nil
}
