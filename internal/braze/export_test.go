package braze

import "time"

// PausedUntil is when calls of endpoint may go again after a 429 (zero: not paused),
// for tests that must not race a caller ahead of the pause.
func (c *Client) PausedUntil(endpoint string) time.Time {
	l := c.limiters[endpoint]
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil
}
