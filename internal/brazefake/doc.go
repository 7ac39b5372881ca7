// Package brazefake is a Braze-compatible REST server for tests and `make` drills (never for
// production): the four endpoints `ctms sync` uses, with Braze's request validation, batch
// limits, minor and fatal errors, rate limits and their headers, and injectable faults. It
// keeps the workspace in memory and lets tests inspect it (Server.Profile, Server.Writes, ...)
// or, over HTTP (cmd/ctms-brazefake), GET /_state (the whole State as JSON), GET /_counters
// (Counters) and PUT /_faults (Faults as JSON, hang as "hang_ms"). Server.Writes gives each
// accepted change with the time it was accepted, to measure how far a sync lags.
//
// # Endpoints and their answers
//
// Every request needs `Authorization: Bearer <key>`: no or an unknown key answers 401; a key
// of Options.LimitedKeys used on an endpoint it is not granted answers 403. Bodies must be a
// JSON object (400 otherwise). Every answer carries X-RateLimit-Limit, X-RateLimit-Remaining
// and X-RateLimit-Reset (epoch seconds of the end of the current window); a request past the
// limit answers 429 and applies nothing. Fatal errors answer {"message": <why>}.
//
//   - POST /users/track {attributes, events, purchases}: at most 75 of each (400 beyond);
//     none at all is a 400 ("Valid data must be provided in the 'attributes', 'events', or
//     'purchases' fields."). Answers {"message": "success", "attributes_processed",
//     "events_processed", "errors": [{"type", "input_array", "index"}]}: an object with an
//     error (the minor errors below) is skipped whole, every other object is applied.
//     Attributes are applied before events.
//   - POST /users/delete {external_ids}: at most 50; unknown ids are fine. Answers
//     {"message": "success", "deleted": n} where n counts the ids that existed.
//   - POST /users/alias/new {user_aliases: [{external_id, alias_label, alias_name}]}: at most
//     50. Answers {"message": "success", "aliases_processed": n, "errors": [...]}.
//   - POST /users/export/ids {external_ids, fields_to_export}: at most 50 ids;
//     fields_to_export is required (as for workspaces created after 2024-08-22) and must name
//     fields of Braze's documented list. Answers {"message": "success", "users": [...],
//     "invalid_user_ids": [...]}. A user holds only the requested fields it has: standard
//     fields at the top level, the others in "custom_attributes", aliases in "user_aliases",
//     events in "custom_events" ({name, first, last, count}).
//
// # Semantics chosen where Braze's documentation is silent
//
//   - Attributes: external_id (a non-empty string) is required; user_alias and braze_id are
//     not supported (minor error). `_update_existing_only` defaults to false (Braze: "If this
//     value is omitted, Braze will create a new user profile if the external_id does not
//     already exist"); when true and the profile does not exist, the object is not applied and
//     not reported (Braze documents no error for it); Server.Counters().SkippedUpdateOnly
//     counts them. A null value removes the attribute.
//   - email_subscribe must be "opted_in", "subscribed" or "unsubscribed"; subscription_groups
//     must be an array of {subscription_group_id: non-empty string, subscription_state:
//     "subscribed"|"unsubscribed"}; a {"$time": ISO-8601} value (anywhere in a custom
//     attribute, nested objects included) must parse and is stored as
//     "2006-01-02T15:04:05.000Z" (UTC, milliseconds), which is what export returns. A wrong
//     value makes the whole object a minor error.
//   - Braze's export does not return subscription groups (Braze serves them from
//     /subscription/user/status, not built here); Server.Profile does.
//   - Events need external_id, a non-empty name and an ISO-8601 time; an event for an unknown
//     external_id creates the profile (as in Braze). Events are not deduplicated: a repeated
//     request records its events twice, as Braze would.
//   - Aliases: alias_label and alias_name are required; the external_id must exist; an alias
//     already on another profile is a minor error; re-adding an alias a profile has is a no-op.
//   - A deleted external_id may be created again by a later track (Server.Deleted keeps the
//     time of the last deletion).
//
// # Faults
//
// Faults (Options.Faults, Server.SetFaults, or one-shot Server.FailNext) are drawn per request
// after authentication and the rate limit: "server_error" answers 500 without applying;
// "timeout" holds the request (Faults.Hang, or until the client gives up) then answers 504
// without applying; "drop" applies the request then resets the connection without an answer
// (a lost acknowledgement); "rate_limit" answers 429 with the current window's headers.
package brazefake
