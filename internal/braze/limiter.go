package braze

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket (rate per second, burst) that a 429 can also pause until Braze's
// X-RateLimit-Reset, so that every caller sharing the endpoint's limit waits, not only the one
// that was refused.
type limiter struct {
	mu          sync.Mutex
	rate        float64
	burst       float64
	tokens      float64
	last        time.Time
	pausedUntil time.Time
}

func newLimiter(rate float64) *limiter {
	// A tenth of a second of burst: Braze's windows (3 s, 1 min) then never see more than
	// rate × window + burst requests.
	burst := max(1, rate/10)
	return &limiter{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// wait blocks until a request may be sent, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		if now.Before(l.pausedUntil) {
			d := l.pausedUntil.Sub(now)
			l.mu.Unlock()
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		l.tokens-- // reserve; a negative balance is the wait of this request
		d := time.Duration(-l.tokens / l.rate * float64(time.Second))
		l.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := sleep(ctx, d); err != nil {
			l.mu.Lock()
			l.tokens++ // give the reservation back
			l.mu.Unlock()
			return err
		}
		return nil
	}
}

// pause holds every request until t.
func (l *limiter) pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
