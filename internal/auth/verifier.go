package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// ErrBusy is returned by Verifier.Verify when its queue is full: the caller
// answers at once (503 with Retry-After) instead of piling up more requests.
var ErrBusy = errors.New("auth: too many secret verifications waiting")

// Verifier bounds the secret verifications of a process. Each one allocates
// the hash's memory cost (64 MiB with the default parameters, at most
// maxMemory) for about as long as it runs, so at most `concurrency` run at once
// and at most `queue` more wait for a slot; further calls fail with ErrBusy
// without waiting. The memory argon2 holds is thus at most
// concurrency × maxMemory, whatever the burst of logins.
//
// When the last running verification ends, its memory goes back to the
// operating system at once (a forced collection): otherwise the collector,
// having seen the hash memory live, lets the heap grow to twice that before
// collecting again, and the process keeps the hash's memory cost twice over
// under the load that follows a login.
type Verifier struct {
	admitted chan struct{} // running + waiting, capacity concurrency+queue
	running  chan struct{} // capacity concurrency
	inFlight atomic.Int32  // verifications computing now
}

// Default sizes of the server's Verifier: a login is rare (a token lasts an
// hour), and 16 waiting verifications of ~100 ms each on 2 slots is under a second.
const (
	DefaultVerifyConcurrency = 2
	DefaultVerifyQueue       = 16
)

// NewVerifier returns a Verifier running at most concurrency verifications
// (at least 1) with at most queue (at least 0) waiting.
func NewVerifier(concurrency, queue int) *Verifier {
	concurrency, queue = max(concurrency, 1), max(queue, 0)
	return &Verifier{admitted: make(chan struct{}, concurrency+queue), running: make(chan struct{}, concurrency)}
}

// Verify reports whether secret matches the stored PHC string. A stored value
// that cannot be parsed, or whose parameters are out of bounds, returns an
// error wrapping ErrInvalidHash at once, without computing anything. A full
// queue returns ErrBusy; ctx ending while waiting returns ctx.Err().
func (v *Verifier) Verify(ctx context.Context, secret, phc string) (bool, error) {
	h, err := parseHash(phc)
	if err != nil {
		return false, err
	}
	select {
	case v.admitted <- struct{}{}:
	default:
		return false, ErrBusy
	}
	defer func() { <-v.admitted }()
	select {
	case v.running <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	v.inFlight.Add(1)
	ok := h.matches(secret)
	<-v.running
	if v.inFlight.Add(-1) == 0 {
		debug.FreeOSMemory()
	}
	return ok, nil
}

// DummyHash returns a well-formed hash with the parameters of HashSecret (and
// of the Python CTMS) that no secret matches (its key is random): verifying a
// secret against it costs what a wrong secret for a real client costs, so an
// unknown client id does not fail faster than a known one. Making it costs no
// argon2 work.
func DummyHash() string {
	b := make([]byte, argonSaltLen+argonKeyLen)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("auth: random bytes: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		b64.EncodeToString(b[:argonSaltLen]), b64.EncodeToString(b[argonSaltLen:]))
}
