package shard

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the coarse clock: an atomic seconds counter ticked once a second
// by one goroutine (Start). Wheels advance on its ticks: each tick is posted
// to the control inbox of every shard worker of every attached hub, so
// wheel work runs spread over the shards' workers and ahead of queued
// fan-outs. The clock's goroutine itself only sweeps expired history.
//
// Lock order: Clock.mu -> shard.qmu (ticks are posted under mu so that two
// concurrent advances reach every queue in tick order).
type Clock struct {
	now  atomic.Uint32
	base time.Time // monotonic origin for tick schedules

	mu   sync.Mutex
	hubs []*Hub
	stop chan struct{}
	done chan struct{}
}

// NewClock returns a stopped clock reading 1.
func NewClock() *Clock {
	c := &Clock{base: time.Now()}
	c.now.Store(1)
	return c
}

// Now is seconds since the clock started (starts at 1, never 0).
func (c *Clock) Now() uint32 { return c.now.Load() }

// Advance ticks the clock once, now, and returns the new reading. Tests and
// tools drive time with it; it works whether or not Start is running.
func (c *Clock) Advance() uint32 { return c.advance(c.mono()) }

// Start runs the ticking goroutine (one tick per elapsed second). Starting a
// running clock does nothing.
func (c *Clock) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.run(c.stop, c.done)
}

// Stop stops the ticking goroutine and waits for it. The reading stays.
func (c *Clock) Stop() {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.stop, c.done = nil, nil
	c.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
}

// run ticks once per elapsed second since it began. A late wake-up (the
// goroutine descheduled, the Ticker dropping a value) catches up with
// several ticks, each carrying its own scheduled time so lag is measured
// against the schedule, not against the late wake-up.
func (c *Clock) run(stop, done chan struct{}) {
	defer close(done)
	start := c.mono()
	first := c.Now()
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		target := first + uint32((c.mono()-start)/int64(time.Second))
		for t := c.Now(); t < target; t = c.Now() {
			c.advance(start + int64(t+1-first)*int64(time.Second))
		}
	}
}

func (c *Clock) mono() int64 { return int64(time.Since(c.base)) }

func (c *Clock) advance(sched int64) uint32 {
	c.mu.Lock()
	t := c.now.Add(1)
	for _, h := range c.hubs {
		h.postTick(t, sched)
	}
	hubs := append([]*Hub(nil), c.hubs...)
	c.mu.Unlock()
	// History expiry takes stripe locks: outside Clock.mu, so no lock order
	// ties the clock to the stripes.
	for _, h := range hubs {
		h.sweepHistory(t)
	}
	return t
}

func (c *Clock) attach(h *Hub) {
	c.mu.Lock()
	c.hubs = append(c.hubs, h)
	c.mu.Unlock()
}

func (c *Clock) detach(h *Hub) {
	c.mu.Lock()
	c.hubs = slices.DeleteFunc(c.hubs, func(x *Hub) bool { return x == h })
	c.mu.Unlock()
}
