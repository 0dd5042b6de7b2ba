package metrics

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Readiness rule (docs/operations.md, "Readiness"): /readyz answers 200 only when all of
//
//  1. a server is attached (Start has returned) and shutdown has not begun
//     (BeginShutdown, called first thing on SIGTERM) and the server is not
//     draining (Server.Draining);
//  2. the reactor is ticking: some shard processed a wheel tick within the
//     last StallAfter (3s). Ticks are posted by the clock goroutine to every
//     shard's queue once a second and run FIFO behind fan-outs, so a silent
//     gap means the clock or every shard worker is stuck;
//  3. the reactor is not lagging: no shard ran a tick more than MaxTickLag
//     (2s) late within the last StallAfter. A late tick means a shard's
//     queue (fan-outs, timers) is seconds behind; readiness comes back
//     StallAfter after the last late tick;
//  4. on a cluster node, the bus can carry cluster traffic (NATS connected,
//     the stream read and caught up with: cluster.Bus.Ready): without it a
//     pub gets err 503, so a load balancer should send clients elsewhere.
//     The node's own clients stay connected meanwhile.
//
// Limitation: OnTickLag does not say which shard ticked, so one shard stuck
// while others tick is caught only by rule 3, when its late tick finally
// runs. Liveness (/healthz) is only "the process answers HTTP".
type readiness struct {
	stallAfter, maxLag int64 // ns
	base               time.Time
	attached           atomic.Bool
	shutting           atomic.Bool
	draining           func() bool
	bus                func() (bool, string) // nil without a bus
	lastTick           atomic.Int64          // ns since base of the last tick seen (or of attach)
	lastLate           atomic.Int64          // ns since base of the last tick later than maxLag; 0 none
	lateLag            atomic.Int64          // that tick's lag, for the reason text
	// now is monotonic ns since base; a test replaces it with a manual
	// clock so the rule is walked without sleeping.
	now func() int64
}

func (r *readiness) init(stallAfter, maxLag time.Duration) {
	r.stallAfter, r.maxLag = int64(stallAfter), int64(maxLag)
	r.base = time.Now()
	r.now = func() int64 { return int64(time.Since(r.base)) }
}

// mono is monotonic ns since base (wall-clock steps cannot fake a stall).
func (r *readiness) mono() int64 { return r.now() }

// tick runs per shard per second from the wheel hook: two atomic stores at
// most, no lock, no allocation.
func (r *readiness) tick(lag time.Duration) {
	now := r.mono()
	r.lastTick.Store(now)
	if int64(lag) > r.maxLag {
		r.lateLag.Store(int64(lag))
		r.lastLate.Store(now)
	}
}

func (r *readiness) attach() {
	r.lastTick.Store(r.mono()) // the first tick is due within a second
	r.attached.Store(true)
}

func (r *readiness) shutdown() { r.shutting.Store(true) }

// check applies the rule; why is a short reason when not ready.
func (r *readiness) check() (ok bool, why string) {
	switch {
	case !r.attached.Load():
		return false, "starting"
	case r.shutting.Load():
		return false, "shutting down"
	case r.draining != nil && r.draining():
		return false, "draining"
	}
	if r.bus != nil {
		if ok, why := r.bus(); !ok {
			return false, why
		}
	}
	now := r.mono()
	if gap := now - r.lastTick.Load(); gap > r.stallAfter {
		return false, fmt.Sprintf("reactor stalled: no wheel tick for %v", time.Duration(gap).Round(time.Millisecond))
	}
	if late := r.lastLate.Load(); late != 0 && now-late <= r.stallAfter {
		return false, fmt.Sprintf("reactor lagging: a wheel tick ran %v late", time.Duration(r.lateLag.Load()).Round(time.Millisecond))
	}
	return true, ""
}

// Ready reports readiness by the rule above, with the reason when false.
func (m *Metrics) Ready() (bool, string) { return m.ready.check() }
