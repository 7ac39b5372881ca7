// Package fastapi holds what CTMS does to look, from the outside, like the
// Python CTMS (FastAPI on pydantic): how the query string and the JSON body are
// read (last value wins, lax booleans, empty optional values dropped, waitlist
// fields kept as sent), how validator errors become FastAPI `detail` items, and
// how JSON is written (no HTML escaping, no trailing newline).
//
// It knows the spec's schemas (kin-openapi) but nothing of HTTP routing, the
// database or CTMS's handlers: internal/httpapi/stages.go calls it once per
// request, one pass over the query (NormaliseQuery) and one decoding of the body
// (Model.Decode), which the body's Model then checks (walk.go).
package fastapi
