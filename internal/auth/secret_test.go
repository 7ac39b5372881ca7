package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Vectors produced once with argon2-cffi 21.1.0 (Debian bookworm's
// python3-argon2); see the comments for the exact calls.
const (
	pySecret = "secret_2uP5yTE2uOLQ0pJ9dmCH3u2W2hCGK1wVvXCwAfIs2Xw"
	// PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32,
	// salt_len=16).hash(pySecret): the defaults of current argon2-cffi, which the
	// Python CTMS uses.
	pyHashDefault = "$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY"
	// PasswordHasher().hash(pySecret) on argon2-cffi 21.1 (and passlib 1.7.4):
	// older rows look like this.
	pyHashLegacyParams = "$argon2id$v=19$m=102400,t=2,p=8$btDplpjcZruBPR+cxaISyg$0kDLGjtG98yvtze1PoAk7Q"
	// low_level.hash_secret(pySecret, b"somesaltsomesalt", time_cost=2,
	// memory_cost=1024, parallelism=2, hash_len=24, type=Type.I)
	pyHashArgon2i = "$argon2i$v=19$m=1024,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$TP8+DBlO5YldTEYZAlW/5urA3rugfVjM"
)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := NewSecret()
	require.NoError(t, err)
	b, err := NewSecret()
	require.NoError(t, err)
	require.Len(t, a, 50)
	require.True(t, strings.HasPrefix(a, "secret_"))
	require.Regexp(t, `^secret_[A-Za-z0-9_-]{43}$`, a)
	require.NotEqual(t, a, b)
}

func TestHashSecretFormat(t *testing.T) {
	t.Parallel()
	h1, err := HashSecret(pySecret)
	require.NoError(t, err)
	h2, err := HashSecret(pySecret)
	require.NoError(t, err)
	require.Regexp(t, `^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h1)
	require.NotEqual(t, h1, h2, "random salt")

	ok, err := VerifySecret(pySecret, h1)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = VerifySecret(pySecret+"x", h1)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestVerifySecretPythonVectors(t *testing.T) {
	t.Parallel()
	for name, phc := range map[string]string{
		"Defaults":     pyHashDefault,
		"LegacyParams": pyHashLegacyParams,
		"Argon2i":      pyHashArgon2i,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifySecret(pySecret, phc)
			require.NoError(t, err)
			require.True(t, ok)

			ok, err = VerifySecret("secret_wrong", phc)
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
}

func TestVerifySecretInvalidHash(t *testing.T) {
	t.Parallel()
	for _, phc := range []string{
		"",
		"not a hash",
		"secret_plaintext",
		"$argon2d$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=16$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$t=3,m=65536,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=0,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=0$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=256$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=16,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=99999999,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=-1,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=+65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A==$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRj",
		"$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s-KCPCYu_cA6TcM4ETttdTepEEXYCqFVDJY",
		"$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY$",
		"x$argon2id$v=19$m=65536,t=3,p=4$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY",
	} {
		ok, err := VerifySecret(pySecret, phc)
		require.ErrorIs(t, err, ErrInvalidHash, "%q", phc)
		require.False(t, ok)
	}
}

// pacedVerifier is a Verifier whose verifications, once given a slot, report
// their secret on started and run only when release is sent to.
func pacedVerifier(concurrency, queue int) (v *Verifier, started chan string, release chan struct{}) {
	v = NewVerifier(concurrency, queue)
	started, release = make(chan string), make(chan struct{})
	v.compute = func(h *argonHash, secret string) bool {
		started <- secret
		<-release
		return h.matches(secret)
	}
	return v, started, release
}

// verifyIn verifies secret against pyHashArgon2i with ticket t in another
// goroutine; the result is sent on the returned channel (nil: it matched).
func verifyIn(ctx context.Context, t *Ticket, secret string) chan error {
	done := make(chan error, 1)
	go func() {
		ok, err := t.Verify(ctx, secret, pyHashArgon2i)
		if err == nil && !ok {
			err = errors.New("no match")
		}
		done <- err
	}()
	return done
}

// waiting is how many verifications of source key wait for a slot.
func (v *Verifier) waitingOf(key string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.sources[key]; s != nil {
		return s.waiting
	}
	return 0
}

func (v *Verifier) admittedNow() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.admitted
}

// TestVerifierBounded: at most concurrency verifications run and at most
// concurrency+queue are admitted; one more is refused at once with ErrBusy; a
// bad hash is refused without waiting and gives its place back; a waiter gives
// up with its context and leaves the queue.
func TestVerifierBounded(t *testing.T) {
	t.Parallel()
	v, started, release := pacedVerifier(1, 1)
	running, err := v.Admit("a")
	require.NoError(t, err)
	first := verifyIn(t.Context(), running, pySecret)
	require.Equal(t, pySecret, <-started) // it holds the only slot

	b, err := v.Admit("b")
	require.NoError(t, err)
	_, err = v.Admit("c")
	require.ErrorIs(t, err, ErrBusy, "every place taken, one each: fail fast")
	_, err = b.Verify(t.Context(), pySecret, "garbage")
	require.ErrorIs(t, err, ErrInvalidHash, "a bad hash waits for no slot")
	c, err := v.Admit("c")
	require.NoError(t, err, "the bad hash gave its place back")
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := verifyIn(ctx, c, pySecret)
	require.Eventually(t, func() bool { return v.waitingOf("c") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-gaveUp, context.Canceled)
	require.Equal(t, 1, v.admittedNow(), "a waiter that gave up leaves the queue")

	d, err := v.Admit("d")
	require.NoError(t, err)
	d.Release()
	d.Release()
	require.Equal(t, 1, v.admittedNow(), "Release of an unused ticket gives its place back, once")
	release <- struct{}{}
	require.NoError(t, <-first)
	require.Equal(t, 0, v.admittedNow())
	require.Empty(t, v.sources)
}

// TestVerifierFairShare: a source may take every free place, but
// slots go to the waiting source served least recently (never served first, in
// the order they started waiting), not to the first come, so sources keeping
// the queue full take turns and a newcomer is served next; when every place
// is taken, a newcomer takes the newest waiting attempt of the source holding
// the most (which gets ErrBusy).
func TestVerifierFairShare(t *testing.T) {
	t.Parallel()
	v, started, release := pacedVerifier(1, 8) // 9 places
	x, err := v.Admit("x")
	require.NoError(t, err)
	results := map[string]chan error{"x": verifyIn(t.Context(), x, "x")}
	require.Equal(t, "x", <-started)

	queue := func(key string, n int) {
		for i := range n {
			tk, err := v.Admit(key)
			require.NoError(t, err, "%s%d", key, i)
			name := fmt.Sprintf("%s%d", key, i)
			results[name] = verifyIn(t.Context(), tk, name)
			require.Eventually(t, func() bool { return v.waitingOf(key) == i+1 }, 5*time.Second, time.Millisecond)
		}
	}
	queue("a", 4)
	queue("b", 3)
	queue("c", 1) // the 9th place
	d, err := v.Admit("d")
	require.NoError(t, err, "a newcomer takes a place from the source holding the most")
	require.ErrorIs(t, <-results["a3"], ErrBusy, "a's newest attempt gave its place")
	delete(results, "a3")
	results["d0"] = verifyIn(t.Context(), d, "d0")
	require.Eventually(t, func() bool { return v.waitingOf("d") == 1 }, 5*time.Second, time.Millisecond)

	release <- struct{}{} // x ends
	require.Equal(t, "a0", <-started)
	queue("n", 1) // a newcomer takes the place a0 left in the queue
	release <- struct{}{}
	for _, want := range []string{"b0", "c0", "d0", "n0", "a1", "b1", "a2", "b2"} {
		require.Equal(t, want, <-started, "least recently served first")
		release <- struct{}{}
	}
	for name, done := range results {
		require.Error(t, <-done, name) // "no match": the secret is not pySecret
	}
	require.Equal(t, 0, v.admittedNow())
}

// TestVerifierConcurrent: sources admitting, verifying, giving up and
// releasing at once never run more than concurrency verifications nor hold
// more than the places, every admitted attempt ends, and nothing is left.
func TestVerifierConcurrent(t *testing.T) {
	t.Parallel()
	const concurrency = 2
	v := NewVerifier(concurrency, 5)
	var running, most atomic.Int32
	v.compute = func(h *argonHash, secret string) bool {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return h.matches(secret)
	}
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Go(func() {
			key := fmt.Sprintf("source-%d", g%5)
			for i := range 30 {
				tk, err := v.Admit(key)
				if err != nil {
					continue
				}
				v.mu.Lock()
				admitted := v.admitted
				v.mu.Unlock()
				if admitted > v.capacity {
					t.Errorf("%d places held of %d", admitted, v.capacity)
				}
				switch i % 4 {
				case 0:
					tk.Release()
				case 1:
					ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%3)*time.Millisecond)
					_, _ = tk.Verify(ctx, pySecret, pyHashArgon2i)
					cancel()
				default:
					if ok, err := tk.Verify(t.Context(), pySecret, pyHashArgon2i); err == nil && !ok {
						t.Error("no match")
					}
				}
				tk.Release()
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int32(concurrency))
	require.Equal(t, 0, v.admittedNow())
	require.Zero(t, v.running)
	require.Empty(t, v.sources)
}

// TestHashParameterBounds: hashes whose cost parameters are out of bounds are
// refused as invalid at once (never computed: a t=4294967295 hash would run
// for hours).
func TestHashParameterBounds(t *testing.T) {
	t.Parallel()
	const tail = "$E7l9oVU7CjHW5ahCdK2m5A$GRjPfRN4s+KCPCYu/cA6TcM4ETttdTepEEXYCqFVDJY"
	for _, params := range []string{"m=65536,t=11,p=4", "m=65536,t=4294967295,p=4", "m=262145,t=3,p=4", "m=4194304,t=1,p=1", "m=65536,t=3,p=17"} {
		start := time.Now()
		ok, err := VerifySecret(pySecret, "$argon2id$v=19$"+params+tail)
		require.ErrorIs(t, err, ErrInvalidHash, params)
		require.False(t, ok)
		require.Less(t, time.Since(start), 100*time.Millisecond, params)
	}
	for _, params := range []string{"m=65536,t=10,p=4", "m=262144,t=1,p=1", "m=128,t=1,p=16"} {
		_, err := parseHash("$argon2id$v=19$" + params + tail)
		require.NoError(t, err, params)
	}
}

// TestDummyHash: well-formed, default parameters, matches nothing, random.
func TestDummyHash(t *testing.T) {
	t.Parallel()
	d := DummyHash()
	require.Regexp(t, `^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, d)
	require.NotEqual(t, d, DummyHash())
	ok, err := VerifySecret("", d)
	require.NoError(t, err)
	require.False(t, ok)
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{pyHashDefault, pyHashLegacyParams, pyHashArgon2i, "", "$$$$$", "$argon2id$v=19$m=1,t=1,p=1$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidHash))
			return
		}
		require.LessOrEqual(t, h.memory, uint32(maxMemory))
		require.LessOrEqual(t, h.time, uint32(maxTime))
		require.LessOrEqual(t, h.threads, uint8(maxThreads))
		require.GreaterOrEqual(t, len(h.salt), minSaltLen)
		require.GreaterOrEqual(t, len(h.expected), minKeyLen)
	})
}

// A verification hands the hash's memory cost (64 MiB here) back when it ends:
// the process does not keep it, and the collector's next target is not raised
// by it (the heap would otherwise grow to twice the hash's memory under the load
// that follows a login). Not parallel: it reads the process's memory statistics.
func TestVerifierReturnsHashMemory(t *testing.T) {
	const slack = 16 << 20
	v := NewVerifier(1, 0)
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ticket, err := v.Admit("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ticket.Verify(context.Background(), "wrong secret", pyHashDefault); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	heldBefore, heldAfter := before.HeapSys-before.HeapReleased, after.HeapSys-after.HeapReleased
	if heldAfter > heldBefore+slack {
		t.Errorf("heap memory held after a verification: %d MiB, before: %d MiB", heldAfter>>20, heldBefore>>20)
	}
	if after.NextGC > before.NextGC+slack {
		t.Errorf("next collection at %d MiB after a verification, %d MiB before", after.NextGC>>20, before.NextGC>>20)
	}
}
