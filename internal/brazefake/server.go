package brazefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The endpoints served, as paths.
const (
	PathTrack    = "/users/track"
	PathDelete   = "/users/delete"
	PathAliasNew = "/users/alias/new"
	PathExport   = "/users/export/ids"
)

// Batch limits, as documented by Braze.
const (
	MaxTrackObjects = 75
	MaxDeleteIDs    = 50
	MaxAliases      = 50
	MaxExportIDs    = 50
)

// maxBody bounds a request body; 75 large attribute objects stay far below it.
const maxBody = 8 << 20

// Limit is a rate limit: Requests per Window (fixed windows aligned on the clock).
type Limit struct {
	Requests int
	Window   time.Duration
}

// Braze's documented default limits. /users/delete and /users/alias/new share one.
var (
	DefaultTrackLimit       = Limit{Requests: 3000, Window: 3 * time.Second}
	DefaultDeleteAliasLimit = Limit{Requests: 20000, Window: time.Minute}
	DefaultExportLimit      = Limit{Requests: 250, Window: time.Minute}
)

// Options configure a Server. The zero value serves with key "brazefake-key", Braze's default
// limits and no faults.
type Options struct {
	APIKey string // the key granted every endpoint
	// LimitedKeys are keys granted only the listed paths (403 elsewhere).
	LimitedKeys      map[string][]string
	TrackLimit       Limit
	DeleteAliasLimit Limit // shared by /users/delete and /users/alias/new
	ExportLimit      Limit
	Faults           Faults
	Seed             uint64 // of the fault draws
	Now              func() time.Time
}

// Server is the fake Braze workspace and its HTTP handler.
type Server struct {
	apiKey  string
	limited map[string][]string
	now     func() time.Time

	mu       sync.Mutex
	limits   map[string]*window // by limit group
	faults   Faults
	failNext []queuedFault
	rnd      *rand.Rand
	profiles map[string]*Profile
	aliases  map[Alias]string // alias → external id
	deleted  map[string]time.Time
	writes   []Write
	counters Counters
}

type window struct {
	limit Limit
	start time.Time
	used  int
}

// New returns a Server with an empty workspace.
func New(o Options) *Server {
	if o.APIKey == "" {
		o.APIKey = "brazefake-key"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(l, d Limit) Limit {
		if l.Requests <= 0 || l.Window <= 0 {
			return d
		}
		return l
	}
	s := &Server{
		apiKey:  o.APIKey,
		limited: o.LimitedKeys,
		now:     o.Now,
		limits: map[string]*window{
			"track":        {limit: def(o.TrackLimit, DefaultTrackLimit)},
			"delete_alias": {limit: def(o.DeleteAliasLimit, DefaultDeleteAliasLimit)},
			"export":       {limit: def(o.ExportLimit, DefaultExportLimit)},
		},
		faults:   o.Faults,
		rnd:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), // #nosec G404 -- fault draws of a test server, not a secret
		profiles: map[string]*Profile{},
		aliases:  map[Alias]string{},
		deleted:  map[string]time.Time{},
		counters: Counters{Requests: map[string]map[string]int{}, Faults: map[Fault]int{}},
	}
	return s
}

func limitGroup(path string) string {
	switch path {
	case PathTrack:
		return "track"
	case PathDelete, PathAliasNew:
		return "delete_alias"
	default:
		return "export"
	}
}

// ServeHTTP serves the Braze endpoints, GET /_state, GET /_counters and PUT /_faults.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_state" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.State())
		return
	case r.URL.Path == "/_counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Counters())
		return
	case r.URL.Path == "/_faults" && r.Method == http.MethodPut:
		var f Faults
		if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, message("invalid faults: "+err.Error()))
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
		return
	}
	path := r.URL.Path
	switch path {
	case PathTrack, PathDelete, PathAliasNew, PathExport:
	default:
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	if r.Method != http.MethodPost {
		s.count(path, http.StatusMethodNotAllowed)
		writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
		return
	}
	if status, msg := s.authorize(r, path); status != 0 {
		s.count(path, status)
		writeJSON(w, status, message(msg))
		return
	}
	allowed, fault := s.admit(w, path)
	if !allowed {
		s.count(path, http.StatusTooManyRequests)
		writeJSON(w, http.StatusTooManyRequests, message("API rate limit exceeded"))
		return
	}
	switch fault {
	case FaultServerError:
		s.count(path, http.StatusInternalServerError)
		writeJSON(w, http.StatusInternalServerError, message("Internal server error (injected)"))
		return
	case FaultTimeout:
		s.mu.Lock()
		hang := s.faults.Hang
		s.mu.Unlock()
		if hang <= 0 {
			hang = 10 * time.Second
		}
		// Reading the body to its end lets net/http notice a client that gives up (and end
		// r.Context()).
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		t := time.NewTimer(hang)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
		s.count(path, http.StatusGatewayTimeout)
		writeJSON(w, http.StatusGatewayTimeout, message("Gateway timeout (injected)"))
		return
	}

	status, body := s.handle(r, path)
	if fault == FaultDrop && status == http.StatusOK {
		s.count(path, 0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0) // the client sees a reset (RST), not an orderly close
				}
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: the stream is reset without an answer
	}
	s.count(path, status)
	writeJSON(w, status, body)
}

// authorize answers 0 when the bearer key may call path, else 401 or 403 and a message.
func (s *Server) authorize(r *http.Request, path string) (int, string) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		return http.StatusUnauthorized, "Invalid API key: none was given (Authorization: Bearer <key>)"
	}
	if key == s.apiKey {
		return 0, ""
	}
	paths, ok := s.limited[key]
	if !ok {
		return http.StatusUnauthorized, "Invalid API key"
	}
	for _, p := range paths {
		if p == path {
			return 0, ""
		}
	}
	return http.StatusForbidden, "Forbidden: the API key lacks the permission for " + path
}

// admit counts the request against its rate limit, sets the rate limit headers, and draws a
// fault. It answers false when the request is over the limit (or a rate_limit fault).
func (s *Server) admit(w http.ResponseWriter, path string) (bool, Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	win := s.limits[limitGroup(path)]
	if start := now.Truncate(win.limit.Window); !start.Equal(win.start) {
		win.start, win.used = start, 0
	}
	reset := win.start.Add(win.limit.Window)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(win.limit.Requests))
	h.Set("X-RateLimit-Reset", strconv.FormatInt((reset.UnixMilli()+999)/1000, 10))
	over := win.used >= win.limit.Requests
	if !over {
		win.used++
	}
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, win.limit.Requests-win.used)))
	if over {
		return false, ""
	}
	fault := s.drawFault(path)
	if fault != "" {
		s.counters.Faults[fault]++
	}
	if fault == FaultRateLimit {
		h.Set("X-RateLimit-Remaining", "0")
		return false, fault
	}
	return true, fault
}

func (s *Server) count(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.counters.Requests[path]
	if m == nil {
		m = map[string]int{}
		s.counters.Requests[path] = m
	}
	key := strconv.Itoa(status)
	if status == 0 {
		key = "dropped"
	}
	m[key]++
}

// handle validates and applies one request; it answers the status and the body.
func (s *Server) handle(r *http.Request, path string) (int, any) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return http.StatusBadRequest, message("Could not read the request body")
	}
	if len(raw) > maxBody {
		return http.StatusRequestEntityTooLarge, message("Request body too large")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil || dec.More() {
		return http.StatusBadRequest, message("Invalid JSON in the request body: a JSON object is expected")
	}
	switch path {
	case PathTrack:
		return s.track(body)
	case PathDelete:
		return s.delete(body)
	case PathAliasNew:
		return s.aliasNew(body)
	default:
		return s.export(body)
	}
}

func message(m string) map[string]any { return map[string]any{"message": m} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// objectArray reads body[key] as an array of at most limit elements; absent is nil. A fatal
// error message is returned for anything else.
func objectArray(body map[string]any, key string, limit int) ([]any, string) {
	v, ok := body[key]
	if !ok || v == nil {
		return nil, ""
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Sprintf("'%s' must be an array", key)
	}
	if len(arr) > limit {
		return nil, fmt.Sprintf("'%s' cannot have more than %d elements (got %d)", key, limit, len(arr))
	}
	return arr, ""
}

// stringArray reads body[key] as a non-empty array of at most limit non-empty strings.
func stringArray(body map[string]any, key string, limit int) ([]string, string) {
	arr, msg := objectArray(body, key, limit)
	if msg != "" {
		return nil, msg
	}
	if len(arr) == 0 {
		return nil, fmt.Sprintf("'%s' must list at least one id", key)
	}
	out := make([]string, len(arr))
	for i, v := range arr {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Sprintf("'%s' must be an array of non-empty strings (element %d)", key, i)
		}
		out[i] = s
	}
	return out, ""
}

// onlyKeys answers a fatal message when body has a key outside allowed.
func onlyKeys(body map[string]any, allowed ...string) string {
	for k := range body {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Sprintf("'%s' is not supported by this test server (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return ""
}
