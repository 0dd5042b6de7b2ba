package gate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
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
// A refusal carries a Retry-After in whole seconds chosen from a calendar
// of the seconds ahead: each second takes at most the accept rate's worth
// of refused clients (rounded down, at least one), and a refusal is told to come back in the first
// second with room or the one after it (drawn at random per response, so
// that values stay jittered). A storm is thus booked over the seconds the
// bucket needs to take it, and the clients come back when it has room for
// them: a window sized only by the current second's refusals sent those
// refused in a later, quieter second back early, into the first wave's
// tail, to be refused again (6.6 refusals per client for 10,000 at 200/s;
// docs/benchmarks.md#admission-storm--m). Clients that ignore Retry-After
// only cost their own refusals: the bucket, not the calendar, admits.
type AcceptRate struct {
	lim      *rate.Limiter
	perSec   float64
	maxRetry int

	mu     sync.Mutex // leaf; refusals only
	cap    int32      // returns booked per second at most: the rate, rounded down, at least 1
	booked []int32    // ring by Unix second: returns booked for it
	second []int64    // the Unix second each slot of booked is for
}

// NewAcceptRate admits perSec handshakes a second on average with bursts
// of up to burst; maxRetry (>= 2) caps Retry-After in seconds.
func NewAcceptRate(perSec float64, burst, maxRetry int) (*AcceptRate, error) {
	switch {
	case !(perSec > 0) || math.IsInf(perSec, 0):
		return nil, fmt.Errorf("-accept-rate must be > 0, got %v", perSec)
	case burst < 1:
		return nil, fmt.Errorf("-accept-burst must be >= 1, got %d", burst)
	case maxRetry < 2 || maxRetry > 3600:
		// The calendar is a ring of maxRetry+1 seconds scanned per refusal.
		return nil, fmt.Errorf("max Retry-After must be in [2, 3600] s, got %d", maxRetry)
	}
	return &AcceptRate{
		lim: rate.NewLimiter(rate.Limit(perSec), burst), perSec: perSec, maxRetry: maxRetry,
		cap:    int32(min(max(perSec, 1), math.MaxInt32)),
		booked: make([]int32, maxRetry+1),
		second: make([]int64, maxRetry+1),
	}, nil
}

// Admit takes a token at now. It returns 0 when the handshake may
// proceed, or the Retry-After seconds (>= 1) for a 503. A nil *AcceptRate
// admits everything.
func (a *AcceptRate) Admit(now time.Time) (retryAfter int) {
	if a == nil || a.lim.AllowN(now, 1) {
		return 0
	}
	return a.book(now.Unix())
}

// book picks the second (1..maxRetry ahead of now) a refused client comes
// back in and counts it there.
func (a *AcceptRate) book(now int64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	first, second := 0, 0 // the first two seconds ahead with room
	for d := 1; d <= a.maxRetry && second == 0; d++ {
		i := a.slot(now + int64(d))
		if a.second[i] != now+int64(d) {
			a.second[i], a.booked[i] = now+int64(d), 0
		}
		if a.booked[i] < a.cap {
			if first == 0 {
				first = d
			} else {
				second = d
			}
		}
	}
	d := first
	switch {
	case first == 0:
		// Booked full for maxRetry seconds: spread the overflow evenly.
		return 1 + rand.IntN(a.maxRetry)
	case second != 0 && rand.IntN(2) == 1:
		d = second
	}
	a.booked[a.slot(now+int64(d))]++
	return d
}

// slot is second's place in the ring; unsigned, so that a clock before
// 1970 (an injected one) cannot index below 0.
func (a *AcceptRate) slot(second int64) uint64 { return uint64(second) % uint64(len(a.booked)) }
