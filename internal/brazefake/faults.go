package brazefake

import (
	"encoding/json"
	"time"
)

// Fault is a kind of injected failure.
type Fault string

// The faults a request can be given (doc.go).
const (
	FaultServerError Fault = "server_error" // 500, nothing applied
	FaultTimeout     Fault = "timeout"      // held, then 504, nothing applied
	FaultDrop        Fault = "drop"         // applied, then the connection reset unanswered
	FaultRateLimit   Fault = "rate_limit"   // 429, nothing applied
)

// Faults are the probabilities (0 to 1) of each fault per request, drawn in this order.
type Faults struct {
	ServerError float64       `json:"server_error"`
	Timeout     float64       `json:"timeout"`
	Drop        float64       `json:"drop"`
	RateLimit   float64       `json:"rate_limit"`
	Hang        time.Duration `json:"-"` // how long a timeout holds the request (default 10 s)
}

type faultsJSON struct {
	ServerError float64 `json:"server_error"`
	Timeout     float64 `json:"timeout"`
	Drop        float64 `json:"drop"`
	RateLimit   float64 `json:"rate_limit"`
	HangMS      int64   `json:"hang_ms"`
}

// MarshalJSON writes Hang as hang_ms.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{f.ServerError, f.Timeout, f.Drop, f.RateLimit, f.Hang.Milliseconds()})
}

// UnmarshalJSON reads hang_ms as Hang.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Faults{j.ServerError, j.Timeout, j.Drop, j.RateLimit, time.Duration(j.HangMS) * time.Millisecond}
	return nil
}

type queuedFault struct {
	path  string // "" for any endpoint
	fault Fault
}

// SetFaults replaces the fault probabilities.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// FailNext gives the next n requests to path ("" for any endpoint) the fault, before any
// random fault. Requests refused by authentication or the rate limit do not consume them.
func (s *Server) FailNext(path string, fault Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, queuedFault{path, fault})
	}
}

// drawFault picks the fault of one request; s.mu is held.
func (s *Server) drawFault(path string) Fault {
	for i, q := range s.failNext {
		if q.path == "" || q.path == path {
			s.failNext = append(s.failNext[:i], s.failNext[i+1:]...)
			return q.fault
		}
	}
	f := s.faults
	for _, c := range []struct {
		p     float64
		fault Fault
	}{{f.ServerError, FaultServerError}, {f.Timeout, FaultTimeout}, {f.Drop, FaultDrop}, {f.RateLimit, FaultRateLimit}} {
		if c.p > 0 && s.rnd.Float64() < c.p { // #nosec G404 -- see New
			return c.fault
		}
	}
	return ""
}
