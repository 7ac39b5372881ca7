package braze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint paths, also the `endpoint` label of the metrics.
const (
	EndpointTrack    = "/users/track"
	EndpointDelete   = "/users/delete"
	EndpointAliasNew = "/users/alias/new"
	EndpointExport   = "/users/export/ids"
)

// ExportFields are the fields_to_export that Export asks for unless Config.ExportFields says
// otherwise: what the sync sends (docs of /users/export/ids: subscription groups are not
// exported by Braze).
var ExportFields = []string{
	"external_id", "email", "email_subscribe", "first_name", "last_name", "country", "language",
	"custom_attributes", "user_aliases",
}

// Config configures a Client. Only URL and APIKey are required.
type Config struct {
	URL    string // the instance's REST endpoint, e.g. https://rest.iad-01.braze.com
	APIKey string // sent as `Authorization: Bearer`; never logged
	// HTTPClient sends the requests (default: a client of its own; each attempt is bounded by
	// Retry.AttemptTimeout).
	HTTPClient *http.Client
	// Client-side rate limits in requests per second, below Braze's documented defaults:
	// /users/track 3,000 per 3 s (default 800/s); /users/delete and /users/alias/new share
	// 20,000 per minute (default 250/s); /users/export/ids 250 per minute (default 3/s).
	TrackRate       float64
	DeleteAliasRate float64
	ExportRate      float64
	Retry           RetryPolicy
	ExportFields    []string // default ExportFields
	// Registerer registers ctms_background_braze_request_total{endpoint,status} and
	// ctms_background_braze_requests_duration_seconds{endpoint} (nil: not registered).
	// Clients sharing a Registerer share the metrics.
	Registerer prometheus.Registerer
}

// RetryPolicy bounds the retries of one call. Zero fields take their defaults.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of a call failing transiently: 5xx, timeouts, resets,
	// connections dropped before an answer (default 5).
	MaxAttempts int
	// MaxRateLimited bounds the 429 answers waited out in one call (default 10).
	MaxRateLimited int
	// BaseDelay is the first back-off after a transient failure; it doubles each attempt, up
	// to MaxDelay, with jitter (each delay is drawn between half and all of it). Defaults
	// 500 ms and 30 s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// AttemptTimeout bounds one attempt (default 30 s).
	AttemptTimeout time.Duration
	// MaxResetWait bounds the wait for a 429's X-RateLimit-Reset (default 60 s).
	MaxResetWait time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.MaxRateLimited <= 0 {
		p.MaxRateLimited = 10
	}
	def(&p.BaseDelay, 500*time.Millisecond)
	def(&p.MaxDelay, 30*time.Second)
	def(&p.AttemptTimeout, 30*time.Second)
	def(&p.MaxResetWait, time.Minute)
	return p
}

// Client is Braze's REST API as `ctms sync` uses it. It is safe for concurrent use.
//
// Every call waits for its endpoint's client-side rate limit, then sends; the answer decides:
//   - 2xx: done (a 202 "queued" too); /users/track's minor errors are returned.
//   - 429: every call of that endpoint (or of the shared delete/alias limit) waits until
//     X-RateLimit-Reset, then this one is sent again; at most RetryPolicy.MaxRateLimited times.
//   - 5xx, timeouts, resets, a connection closed without an answer: sent again after an
//     exponential back-off with jitter, at most RetryPolicy.MaxAttempts attempts in all. The
//     request may have been applied already: the same body is sent again, so the profile ends
//     in the same state (the external id keys the profile, so a create cannot become two).
//   - 401, 403: an *APIError wrapping ErrAuth at once (retrying does not help; the caller
//     stops and alerts); any other 4xx: an *APIError at once.
//
// Each attempt is counted in ctms_background_braze_request_total{endpoint,status} (status
// "error" when there was no answer) and timed in
// ctms_background_braze_requests_duration_seconds{endpoint}.
type Client struct {
	base         string
	key          string
	http         *http.Client
	retry        RetryPolicy
	exportFields []string
	limiters     map[string]*limiter // by endpoint; delete and alias/new share one
	metrics      *metrics
}

var _ ESP = (*Client)(nil)

// ErrBatchTooLarge is returned, without a request, for a batch over the endpoint's limit.
var ErrBatchTooLarge = errors.New("braze: batch larger than the endpoint allows")

// APIError is an answer of Braze that is not a success (after the retries, for 429 and 5xx).
// It wraps ErrAuth for 401 and 403.
type APIError struct {
	Endpoint string
	Status   int
	Message  string // Braze's "message"
}

func (e *APIError) Error() string {
	return fmt.Sprintf("braze %s: %d %s", e.Endpoint, e.Status, e.Message)
}

// Unwrap makes errors.Is(err, ErrAuth) true for 401 and 403.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrAuth
	}
	return nil
}

// MinorErrors is the error of NewAliases when Braze rejected some aliases and added the
// others.
type MinorErrors struct {
	Endpoint string
	Errors   []MinorError
}

func (e *MinorErrors) Error() string {
	return fmt.Sprintf("braze %s: %d objects rejected (first: %s)", e.Endpoint, len(e.Errors), e.Errors[0].Type)
}

// New returns a Client. It fails when URL (absolute http or https) or APIKey is missing, or
// the metrics cannot be registered.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.APIKey == "" {
		return nil, errors.New("braze: URL and API key are required")
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("braze: the URL must be an absolute http(s) URL, e.g. https://rest.iad-01.braze.com")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	rate := func(r, d float64) float64 {
		if r <= 0 {
			return d
		}
		return r
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64 // the sync's workers all talk to one host
		hc = &http.Client{Transport: t}
	}
	deleteAlias := newLimiter(rate(cfg.DeleteAliasRate, 250))
	c := &Client{
		base:         strings.TrimRight(cfg.URL, "/"),
		key:          cfg.APIKey,
		http:         hc,
		retry:        cfg.Retry.withDefaults(),
		exportFields: cfg.ExportFields,
		limiters: map[string]*limiter{
			EndpointTrack:    newLimiter(rate(cfg.TrackRate, 800)),
			EndpointDelete:   deleteAlias,
			EndpointAliasNew: deleteAlias,
			EndpointExport:   newLimiter(rate(cfg.ExportRate, 3)),
		},
		metrics: m,
	}
	if len(c.exportFields) == 0 {
		c.exportFields = ExportFields
	}
	return c, nil
}

// Track sends attributes and events in one /users/track request (ESP).
func (c *Client) Track(ctx context.Context, attrs []Attributes, events []Event) ([]MinorError, error) {
	if len(attrs) > MaxTrackObjects || len(events) > MaxTrackObjects {
		return nil, fmt.Errorf("%w: %s takes %d attributes and %d events, got %d and %d",
			ErrBatchTooLarge, EndpointTrack, MaxTrackObjects, MaxTrackObjects, len(attrs), len(events))
	}
	if len(attrs) == 0 && len(events) == 0 {
		return nil, nil
	}
	body := map[string]any{}
	if len(attrs) > 0 {
		body["attributes"] = attrs
	}
	if len(events) > 0 {
		body["events"] = events
	}
	var resp struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if err := c.do(ctx, EndpointTrack, body, &resp); err != nil {
		return nil, err
	}
	return minorErrors(resp.Errors), nil
}

// Delete deletes the profiles of externalIDs (ESP).
func (c *Client) Delete(ctx context.Context, externalIDs []string) error {
	if len(externalIDs) > MaxDeleteIDs {
		return fmt.Errorf("%w: %s takes %d ids, got %d", ErrBatchTooLarge, EndpointDelete, MaxDeleteIDs, len(externalIDs))
	}
	if len(externalIDs) == 0 {
		return nil
	}
	return c.do(ctx, EndpointDelete, map[string]any{"external_ids": externalIDs}, nil)
}

// NewAliases adds aliases (ESP). When Braze rejects some of them (minor errors) the others
// are added and the error is a *MinorErrors naming the rejected ones by index.
func (c *Client) NewAliases(ctx context.Context, aliases []Alias) error {
	if len(aliases) > MaxAliases {
		return fmt.Errorf("%w: %s takes %d aliases, got %d", ErrBatchTooLarge, EndpointAliasNew, MaxAliases, len(aliases))
	}
	if len(aliases) == 0 {
		return nil
	}
	type alias struct {
		ExternalID string `json:"external_id"`
		Label      string `json:"alias_label"`
		Name       string `json:"alias_name"`
	}
	out := make([]alias, len(aliases))
	for i, a := range aliases {
		out[i] = alias{a.ExternalID, a.Label, a.Name}
	}
	var resp struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if err := c.do(ctx, EndpointAliasNew, map[string]any{"user_aliases": out}, &resp); err != nil {
		return err
	}
	if minors := minorErrors(resp.Errors); len(minors) > 0 {
		return &MinorErrors{Endpoint: EndpointAliasNew, Errors: minors}
	}
	return nil
}

// Export reads back the profiles of externalIDs (ESP), with the fields of Config.ExportFields.
func (c *Client) Export(ctx context.Context, externalIDs []string) ([]Profile, error) {
	if len(externalIDs) > MaxExportIDs {
		return nil, fmt.Errorf("%w: %s takes %d ids, got %d", ErrBatchTooLarge, EndpointExport, MaxExportIDs, len(externalIDs))
	}
	if len(externalIDs) == 0 {
		return nil, nil
	}
	var resp struct {
		Users []Profile `json:"users"`
	}
	err := c.do(ctx, EndpointExport, map[string]any{"external_ids": externalIDs, "fields_to_export": c.exportFields}, &resp)
	return resp.Users, err
}

// minorErrors reads Braze's "errors": objects {type, input_array, index}; a bare string
// (other endpoints' form) becomes a MinorError with Index -1.
func minorErrors(raw []json.RawMessage) []MinorError {
	var out []MinorError
	for _, r := range raw {
		var e struct {
			Type       string `json:"type"`
			InputArray string `json:"input_array"`
			Index      *int   `json:"index"`
		}
		var s string
		switch {
		case json.Unmarshal(r, &e) == nil:
			m := MinorError{InputArray: e.InputArray, Index: -1, Type: e.Type}
			if e.Index != nil {
				m.Index = *e.Index
			}
			out = append(out, m)
		case json.Unmarshal(r, &s) == nil:
			out = append(out, MinorError{Index: -1, Type: s})
		default:
			out = append(out, MinorError{Index: -1, Type: string(r)})
		}
	}
	return out
}

// do sends one request, with the rate limit and the retries, and decodes a 2xx answer into
// out (when not nil).
func (c *Client) do(ctx context.Context, endpoint string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("braze %s: encoding the request: %w", endpoint, err)
	}
	lim := c.limiters[endpoint]
	transient, limited := 0, 0
	for {
		if err := lim.wait(ctx); err != nil {
			return fmt.Errorf("braze %s: %w", endpoint, err)
		}
		status, header, answer, err := c.attempt(ctx, endpoint, payload)
		if ctx.Err() != nil {
			return fmt.Errorf("braze %s: %w", endpoint, ctx.Err())
		}
		var fail error
		switch {
		case err != nil:
			fail = fmt.Errorf("braze %s: %w", endpoint, err)
		case status == http.StatusTooManyRequests:
			limited++
			if limited > c.retry.MaxRateLimited {
				return apiError(endpoint, status, answer)
			}
			lim.pause(time.Now().Add(c.resetWait(header, limited)))
			continue
		case status >= 500:
			fail = apiError(endpoint, status, answer)
		case status >= 300:
			return apiError(endpoint, status, answer) // 4xx: retrying does not help
		default:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(answer, out); err != nil {
				return fmt.Errorf("braze %s: decoding the answer: %w", endpoint, err)
			}
			return nil
		}
		transient++
		if transient >= c.retry.MaxAttempts {
			return fmt.Errorf("giving up after %d attempts: %w", transient, fail)
		}
		if err := sleep(ctx, c.backoff(transient)); err != nil {
			return fmt.Errorf("braze %s: %w", endpoint, err)
		}
	}
}

// attempt sends the request once. A transport error (timeout, reset, connection closed without
// an answer) is returned as err.
func (c *Client) attempt(ctx context.Context, endpoint string, payload []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.retry.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observe(endpoint, "error", time.Since(start))
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		c.metrics.observe(endpoint, "error", time.Since(start))
		return 0, nil, nil, err
	}
	c.metrics.observe(endpoint, strconv.Itoa(resp.StatusCode), time.Since(start))
	return resp.StatusCode, resp.Header, answer, nil
}

func apiError(endpoint string, status int, answer []byte) *APIError {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(answer, &m) != nil || m.Message == "" {
		m.Message = http.StatusText(status)
	}
	return &APIError{Endpoint: endpoint, Status: status, Message: m.Message}
}

// backoff is the delay after the n-th transient failure: BaseDelay·2^(n-1), capped at
// MaxDelay, drawn between half and all of it so that workers do not retry in step.
func (c *Client) backoff(n int) time.Duration {
	d := c.retry.BaseDelay << min(n-1, 30)
	if d <= 0 || d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	return d/2 + rand.N(d/2+1) // #nosec G404 -- jitter, not a secret
}

// resetWait is how long a 429 makes the endpoint wait: until X-RateLimit-Reset (epoch
// seconds), plus a little jitter, at most MaxResetWait; without a usable header or with a
// reset already past, a back-off.
func (c *Client) resetWait(h http.Header, n int) time.Duration {
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return c.backoff(n)
	}
	d := time.Until(time.Unix(reset, 0))
	if d <= 0 {
		return c.backoff(n) // a reset already past (clocks apart): do not hammer
	}
	return min(d+rand.N(c.retry.BaseDelay/2+1), c.retry.MaxResetWait) // #nosec G404 -- jitter, not a secret
}
