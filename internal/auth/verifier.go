package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// ErrBusy is returned by Verifier.Admit and Ticket.Verify when there is no room
// for one more verification: the caller answers at once (503 with Retry-After)
// instead of piling up more requests.
var ErrBusy = errors.New("auth: too many secret verifications waiting")

// Verifier bounds the secret verifications of a process and shares them fairly
// between sources (the callers' addresses), so that callers sending wrong
// secrets cannot crowd out one sending the right secret from elsewhere.
//
// Each verification allocates the hash's memory cost (64 MiB with the default
// parameters, at most maxMemory) for about as long as it runs, so at most
// `concurrency` run at once: the memory argon2 holds is at most
// concurrency × maxMemory, whatever the burst of logins. At most
// concurrency+queue attempts are admitted (running or waiting) at once. A source
// may hold any number of them while places are free (a client logging in from
// many workers behind one address is not refused, nor charged a failure, for its
// own concurrency). A free slot goes to the waiting
// source served least recently (one not served yet first, in the order they
// started waiting), not to the first come: sources that keep the queue full
// take turns (round robin), and a newcomer gets one of the next slots to free,
// however many attempts the others have queued.
// When every place is taken, a source admits a newcomer by giving up its newest
// attempt that is not running yet, if it holds at least two more than the
// newcomer: a source with nothing in flight is refused only when
// concurrency+queue sources each hold one.
//
// When the last running verification ends, its memory goes back to the
// operating system at once (a forced collection): otherwise the collector,
// having seen the hash memory live, lets the heap grow to twice that before
// collecting again, and the process keeps the hash's memory cost twice over
// under the load that follows a login.
type Verifier struct {
	concurrency, capacity int
	compute               func(h *argonHash, secret string) bool // (*argonHash).matches; tests pace it

	mu       sync.Mutex
	sources  map[string]*source // sources with an attempt admitted
	admitted int                // attempts admitted, running or not
	running  int                // attempts given a slot
	clock    uint64             // orders the events below
}

type source struct {
	key     string
	pending []*Ticket // admitted, not running yet: oldest first
	waiting int       // of pending, those in Verify
	running int
	served  uint64 // clock when it was last given a slot; 0: never (while admitted)
	since   uint64 // clock when it started waiting
}

func (s *source) admitted() int { return len(s.pending) + s.running }

// Ticket is an attempt admitted by Verifier.Admit: one Verify, and Release
// when done (which does nothing after Verify).
type Ticket struct {
	v     *Verifier
	src   *source
	state ticketState
	turn  chan struct{} // closed when the ticket gets a slot or is evicted
}

type ticketState int

const (
	ticketAdmitted ticketState = iota // admitted, not in Verify yet (the client is being looked up)
	ticketWaiting                     // in Verify, waiting for a slot
	ticketRunning
	ticketEvicted // gave its place to another source's attempt
	ticketDone
)

// Default sizes of the server's Verifier. A verification computes argonThreads
// lanes in parallel, so one per argonThreads cores runs at full speed (more
// would only share the cores, and make a client wait for two at half speed
// instead of one): 1 on up to 7 cores, at most 2 (the memory bound). A login
// is rare (a token lasts an hour), and 16 waiting verifications of ~0.1 s are
// a couple of seconds.
var DefaultVerifyConcurrency = min(2, max(1, runtime.GOMAXPROCS(0)/argonThreads))

const DefaultVerifyQueue = 16

// NewVerifier returns a Verifier running at most concurrency verifications
// (at least 1), with at most queue (at least 0) more admitted and waiting.
func NewVerifier(concurrency, queue int) *Verifier {
	concurrency, queue = max(concurrency, 1), max(queue, 0)
	return &Verifier{concurrency: concurrency, capacity: concurrency + queue, sources: map[string]*source{},
		compute: (*argonHash).matches}
}

// Admit reserves a place for one verification from source, before the caller
// does anything costly (such as looking the client up): ErrBusy when every
// place is taken and no source holds two more than source does.
func (v *Verifier) Admit(key string) (*Ticket, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sources[key]
	if s == nil {
		s = &source{key: key}
	}
	if v.admitted >= v.capacity && !v.evictFor(s) {
		return nil, ErrBusy
	}
	v.sources[key] = s
	t := &Ticket{v: v, src: s, turn: make(chan struct{})}
	s.pending = append(s.pending, t)
	v.admitted++
	return t, nil
}

// evictFor takes the newest attempt not running yet of the source holding
// the most attempts, if it holds at least two more than s; it reports whether
// a place was freed.
func (v *Verifier) evictFor(s *source) bool {
	var victim *source
	for _, o := range v.sources {
		if len(o.pending) > 0 && o.admitted() >= s.admitted()+2 && (victim == nil || o.admitted() > victim.admitted()) {
			victim = o
		}
	}
	if victim == nil {
		return false
	}
	t := victim.pending[len(victim.pending)-1]
	if t.state == ticketWaiting {
		victim.waiting--
	}
	t.state = ticketEvicted
	close(t.turn)
	v.unpend(t)
	return true
}

// Verify reports whether secret matches the stored PHC string, once the
// ticket's turn comes. A stored value that cannot be parsed, or whose
// parameters are out of bounds, returns an error wrapping ErrInvalidHash at
// once, without computing anything. An evicted ticket returns ErrBusy; ctx
// ending while waiting returns ctx.Err(). The ticket is done afterwards.
func (t *Ticket) Verify(ctx context.Context, secret, phc string) (bool, error) {
	h, err := parseHash(phc)
	if err != nil {
		t.Release()
		return false, err
	}
	v, s := t.v, t.src
	v.mu.Lock()
	if t.state != ticketAdmitted {
		v.mu.Unlock()
		return false, ErrBusy // evicted while the client was looked up (or used twice)
	}
	t.state = ticketWaiting
	if s.waiting == 0 {
		v.clock++
		s.since = v.clock
	}
	s.waiting++
	v.dispatch()
	v.mu.Unlock()

	select {
	case <-t.turn:
	case <-ctx.Done():
	}
	v.mu.Lock()
	switch t.state {
	case ticketEvicted:
		v.mu.Unlock()
		return false, ErrBusy
	case ticketWaiting: // ctx ended first
		s.waiting--
		v.unpend(t)
		v.mu.Unlock()
		return false, ctx.Err()
	}
	v.mu.Unlock()
	if ctx.Err() != nil { // given a slot as ctx ended: give it back
		v.finish(t)
		return false, ctx.Err()
	}
	ok := v.compute(h, secret)
	if v.finish(t) {
		debug.FreeOSMemory()
	}
	return ok, nil
}

// Release gives back the place of a ticket that did not go through Verify
// (the client lookup failed); it does nothing otherwise.
func (t *Ticket) Release() {
	t.v.mu.Lock()
	defer t.v.mu.Unlock()
	if t.state == ticketAdmitted {
		t.v.unpend(t)
	}
}

// dispatch gives free slots to the waiting sources, least recently served
// first, each its oldest waiting attempt. Called with v.mu held.
func (v *Verifier) dispatch() {
	for v.running < v.concurrency {
		var next *source
		for _, s := range v.sources {
			if s.waiting > 0 && (next == nil || s.served < next.served || s.served == next.served && s.since < next.since) {
				next = s
			}
		}
		if next == nil {
			return
		}
		for i, t := range next.pending {
			if t.state == ticketWaiting {
				next.pending = append(next.pending[:i], next.pending[i+1:]...)
				t.state = ticketRunning
				close(t.turn)
				break
			}
		}
		v.clock++
		next.served = v.clock
		next.waiting--
		next.running++
		v.running++
	}
}

// unpend removes a ticket that is not running from its source and frees its
// place. Called with v.mu held.
func (v *Verifier) unpend(t *Ticket) {
	s := t.src
	for i, p := range s.pending {
		if p == t {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			break
		}
	}
	if t.state != ticketEvicted {
		t.state = ticketDone
	}
	v.admitted--
	v.forget(s)
}

// finish ends a running ticket and passes its slot on; it reports whether no
// verification is running any more.
func (v *Verifier) finish(t *Ticket) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	t.state = ticketDone
	t.src.running--
	v.running--
	v.admitted--
	v.forget(t.src)
	v.dispatch()
	return v.running == 0
}

// forget drops a source that holds nothing any more.
func (v *Verifier) forget(s *source) {
	if s.admitted() == 0 && v.sources[s.key] == s {
		delete(v.sources, s.key)
	}
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
