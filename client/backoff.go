package client

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect policy: the wait before attempt n (0-based,
// counted since the last connection that stayed up StableAfter) is drawn
// uniformly from [0, min(Max, Base*2^n)] ("full jitter"). Drawing from the
// whole range, rather than adding a little noise to a fixed delay, is what
// spreads a crowd of clients that lost the same server at the same instant:
// their retries land anywhere in the window instead of in one spike.
type Backoff struct {
	Base time.Duration // first ceiling; 0 means 500 ms
	Max  time.Duration // largest ceiling; 0 means 20 s
}

// DefaultBackoff is the policy when Options.Backoff is zero.
var DefaultBackoff = Backoff{Base: 500 * time.Millisecond, Max: 20 * time.Second}

func (b Backoff) norm() Backoff {
	if b.Base <= 0 {
		b.Base = DefaultBackoff.Base
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Base {
		b.Max = b.Base
	}
	return b
}

// Ceiling is min(Max, Base*2^attempt).
func (b Backoff) Ceiling(attempt int) time.Duration {
	b = b.norm()
	if attempt < 0 {
		attempt = 0
	}
	c := b.Base
	for i := 0; i < attempt && c < b.Max; i++ {
		c *= 2
	}
	return min(c, b.Max)
}

// Delay draws the wait before attempt from r: uniform in [0, Ceiling(attempt)].
func (b Backoff) Delay(attempt int, r *rand.Rand) time.Duration {
	return time.Duration(r.Int64N(int64(b.Ceiling(attempt)) + 1))
}

// Clock is the time source of the client's waits (backoff, ping, token
// refresh); tests inject a manual one.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
