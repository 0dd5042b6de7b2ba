package gate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxRetryAfter caps the Retry-After of a refused handshake.
const DefaultMaxRetryAfter = 60

// AcceptRate is the handshake admission bucket (-accept-rate,
// -accept-burst): a token bucket from golang.org/x/time/rate, asked once
// per handshake before any per-connection state is built. Established
// connections never pass through it.
//
// A refusal carries a Retry-After in whole seconds, drawn uniformly from
// 1..W, fresh for every response. W grows with the refusals of the current
// second: W = clamp(ceil(k / rate), 2, maxRetry) for the k-th refusal of
// that second. The k refused so far are thus spread over a window the
// accept rate could drain; a fixed value would send a whole storm back in
// the same second, to be refused again together.
type AcceptRate struct {
	lim      *rate.Limiter
	perSec   float64
	maxRetry int
	// win is the Unix second the refused count belongs to. The reset on a
	// new second is a CAS then a store, so a refusal racing it may be
	// lost from the count: W is a spreading heuristic, not an account.
	win     atomic.Int64
	refused atomic.Int64
}

// NewAcceptRate admits perSec handshakes a second on average with bursts
// of up to burst; maxRetry (>= 2) caps Retry-After in seconds.
func NewAcceptRate(perSec float64, burst, maxRetry int) (*AcceptRate, error) {
	switch {
	case !(perSec > 0) || math.IsInf(perSec, 0):
		return nil, fmt.Errorf("-accept-rate must be > 0, got %v", perSec)
	case burst < 1:
		return nil, fmt.Errorf("-accept-burst must be >= 1, got %d", burst)
	case maxRetry < 2:
		return nil, fmt.Errorf("max Retry-After must be >= 2 s, got %d", maxRetry)
	}
	return &AcceptRate{lim: rate.NewLimiter(rate.Limit(perSec), burst), perSec: perSec, maxRetry: maxRetry}, nil
}

// Admit takes a token at now. It returns 0 when the handshake may
// proceed, or the Retry-After seconds (>= 1) for a 503. A nil *AcceptRate
// admits everything.
func (a *AcceptRate) Admit(now time.Time) (retryAfter int) {
	if a == nil || a.lim.AllowN(now, 1) {
		return 0
	}
	sec := now.Unix()
	if w := a.win.Load(); w != sec && a.win.CompareAndSwap(w, sec) {
		a.refused.Store(0)
	}
	k := a.refused.Add(1)
	// Clamped as a float: k/perSec may exceed any int for a tiny rate.
	w := min(max(math.Ceil(float64(k)/a.perSec), 2), float64(a.maxRetry))
	return 1 + rand.IntN(int(w))
}
