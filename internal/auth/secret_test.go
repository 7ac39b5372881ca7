package auth

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
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

// TestVerifierBounded: at most concurrency verifications run, at most queue
// wait; one more fails at once with ErrBusy; a waiter gives up with its context;
// a bad hash is refused without a slot.
func TestVerifierBounded(t *testing.T) {
	t.Parallel()
	v := NewVerifier(1, 1)
	v.running <- struct{}{}  // the only slot is taken
	v.admitted <- struct{}{} // by this verification
	waited := make(chan error, 1)
	go func() { // waits in the queue
		ok, err := v.Verify(t.Context(), pySecret, pyHashArgon2i)
		if err == nil && !ok {
			err = errors.New("no match")
		}
		waited <- err
	}()
	require.Eventually(t, func() bool { return len(v.admitted) == 2 }, 5*time.Second, time.Millisecond)
	_, err := v.Verify(t.Context(), pySecret, pyHashArgon2i)
	require.ErrorIs(t, err, ErrBusy, "queue full: fail fast")
	_, err = v.Verify(t.Context(), pySecret, "garbage")
	require.ErrorIs(t, err, ErrInvalidHash, "a bad hash needs no slot")
	<-v.running
	<-v.admitted
	require.NoError(t, <-waited)
	require.Empty(t, v.running)
	require.Empty(t, v.admitted)

	v.running <- struct{}{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = v.Verify(ctx, pySecret, pyHashArgon2i)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, v.admitted, 0, "a waiter that gave up leaves the queue")
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
	if _, err := v.Verify(context.Background(), "wrong secret", pyHashDefault); err != nil {
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
