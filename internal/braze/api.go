// Package braze is the client of Braze's REST API that `ctms sync` pushes contacts with
// (users/track, users/delete, users/alias/new, users/export/ids): batch limits, a client-side
// rate limit, retries with back-off and jitter, 429 waits for X-RateLimit-Reset, minor errors
// per object, and 401/403 as ErrAuth.
//
// This file is the contract between the client and its callers (internal/brazesync).
package braze

import (
	"context"
	"errors"
)

// Batch limits of Braze's endpoints.
const (
	MaxTrackObjects = 75 // attributes, and separately events, per /users/track
	MaxDeleteIDs    = 50 // external ids per /users/delete
	MaxAliases      = 50 // aliases per /users/alias/new
	MaxExportIDs    = 50 // external ids per /users/export/ids
)

// Attributes is one user attributes object of /users/track, as sent
// (external_id, email, email_subscribe, subscription_groups, user_attributes_v1, ...).
type Attributes map[string]any

// Event is one custom event of /users/track (external_id, name, time, ...).
type Event map[string]any

// Alias is one user alias to add to the profile of ExternalID.
type Alias struct {
	ExternalID string
	Label      string // alias_label: "fxa_id" or "basket_token"
	Name       string // alias_name
}

// MinorError is one object Braze rejected in a batch that it otherwise applied.
type MinorError struct {
	InputArray string // "attributes" or "events"
	Index      int    // position in that array of the request
	Type       string // Braze's error type, e.g. "'external_id' is required"
}

// ErrAuth wraps a 401 or 403: the key is wrong or lacks a permission; retrying does not help.
var ErrAuth = errors.New("braze: the API key was refused")

// Profile is one profile as /users/export/ids returns it (its JSON object).
type Profile map[string]any

// ESP is what internal/brazesync needs of Braze; *Client implements it.
type ESP interface {
	// Track sends at most MaxTrackObjects attributes and MaxTrackObjects events. A nil error
	// with minor errors means everything else was applied. A request whose answer was lost is
	// sent again: attributes are idempotent, events are not (Braze records a repeat twice).
	Track(ctx context.Context, attrs []Attributes, events []Event) ([]MinorError, error)
	// Delete deletes the profiles of at most MaxDeleteIDs external ids (unknown ids are fine).
	Delete(ctx context.Context, externalIDs []string) error
	// NewAliases adds at most MaxAliases aliases. When Braze rejects some of them (minor
	// errors: unknown external id, alias taken by another profile) the others are added and
	// the error is a *MinorErrors naming the rejected ones by index. Adding an alias a profile
	// already has is harmless.
	NewAliases(ctx context.Context, aliases []Alias) error
	// Export reads back the profiles of at most MaxExportIDs external ids; missing ones are absent.
	// Braze's export has no subscription groups (see ExportFields).
	Export(ctx context.Context, externalIDs []string) ([]Profile, error)
}
