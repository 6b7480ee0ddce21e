package wechattest

import (
	"sync"
	"time"
)

// Clock is the simulator's notion of time. Tests share one Clock between the
// simulator (WithClock) and the client (wechat.Config.Now) and Advance it to expire
// codes and tokens without sleeping. A nil *Clock tells the real time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock stopped at t; only Advance moves it.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time, or time.Now for a nil Clock.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
