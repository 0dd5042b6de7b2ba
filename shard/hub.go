package shard

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-ws/starling/poller"
)

// Config configures a Hub. Callbacks are called with no lock held, from a
// shard's worker goroutine; they may call Add, Remove, Arm, Subscribe,
// Unsubscribe and Publish, but never Flush or Stop (the worker would wait on
// itself).
type Config struct {
	Shards     int    // power of two, at most 256; 0 means the next power of two >= GOMAXPROCS
	WheelSlots int    // wheel buckets of one second (rounded up to a power of two); 0 means 64 (deadlines may exceed it)
	Clock      *Clock // required

	// OnTimer is called for each connection whose wheel entry came due, from
	// the shard's worker. The entry is disarmed; re-arm with Arm.
	OnTimer func(c *poller.Conn, now uint32)
	// OnSlow is called after a fan-out pass for each recipient whose write
	// reported poller.ErrOverflow (once per failed write: a connection that
	// overflowed on several publishes of one pass is reported for each).
	OnSlow func(c *poller.Conn)
	// OnFanout, if set, is called once per publish when the last shard has
	// written it: the time from Publish to done, and the recipients written.
	OnFanout func(d time.Duration, recipients int)
	// OnTickLag, if set, is called per shard per tick with how late the
	// wheel advanced relative to the tick's schedule.
	OnTickLag func(d time.Duration)
}

const (
	maxShards    = 1 << shardBits
	defaultSlots = 64
)

// Hub is the sharded connection table, membership and fan-out.
type Hub struct {
	cfg     Config
	clock   *Clock
	shards  []*shard
	mask    uint32
	next    atomic.Uint32 // round-robin shard assignment for Add
	seed    maphash.Seed
	stripes [nStripes]stripe

	// life guards the started/stopped transitions against Flush.
	life    sync.RWMutex
	started bool
	stopped atomic.Bool // read by Publish under a stripe lock
	quit    chan struct{}
	wg      sync.WaitGroup
}

// New builds a hub; Start runs its workers.
func New(cfg Config) (*Hub, error) {
	if cfg.Clock == nil {
		return nil, errors.New("shard: Config.Clock is required")
	}
	n := cfg.Shards
	if n == 0 {
		n = nextPow2(runtime.GOMAXPROCS(0))
		if n > maxShards {
			n = maxShards
		}
	}
	if n < 0 || n > maxShards || n&(n-1) != 0 {
		return nil, fmt.Errorf("shard: Shards %d: want a power of two in [1, %d]", cfg.Shards, maxShards)
	}
	slots := cfg.WheelSlots
	if slots == 0 {
		slots = defaultSlots
	}
	if slots < 0 || slots > 1<<20 {
		return nil, fmt.Errorf("shard: WheelSlots %d: want 1..%d", cfg.WheelSlots, 1<<20)
	}
	slots = nextPow2(slots)
	h := &Hub{
		cfg:    cfg,
		clock:  cfg.Clock,
		shards: make([]*shard, n),
		mask:   uint32(n - 1),
		seed:   maphash.MakeSeed(),
		quit:   make(chan struct{}),
	}
	now := cfg.Clock.Now()
	for i := range h.shards {
		h.shards[i] = newShard(uint32(i), slots, now)
	}
	for i := range h.stripes {
		h.stripes[i].m = make(map[string]*chanMeta)
	}
	return h, nil
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Start starts the per-shard workers and hooks the wheels to the clock.
// Fan-outs published before Start are written once it runs. Calling Start
// again, or after Stop, does nothing.
func (h *Hub) Start() {
	h.life.Lock()
	defer h.life.Unlock()
	if h.started || h.stopped.Load() {
		return
	}
	h.started = true
	for _, s := range h.shards {
		h.wg.Add(1)
		go h.work(s)
		s.signal()
	}
	h.clock.attach(h)
}

// Stop stops the workers after the queued fan-outs are written. Publish
// after Stop writes nothing and returns (0, 0). Safe to call more than once.
func (h *Hub) Stop() {
	h.life.Lock()
	if h.stopped.Load() {
		h.life.Unlock()
		return
	}
	h.stopped.Store(true)
	started := h.started
	h.life.Unlock()
	h.clock.detach(h)
	// A Publish that saw stopped == false still holds its stripe lock while
	// it enqueues; cycling every stripe lock waits those out, so the final
	// drain below sees their tasks.
	for i := range h.stripes {
		h.stripes[i].mu.Lock()
		h.stripes[i].mu.Unlock() //nolint:staticcheck // barrier
	}
	close(h.quit)
	if started {
		h.wg.Wait()
	}
}

// Flush waits until every shard worker has processed what was queued before
// the call (fan-outs and ticks). It returns at once if the hub is not
// running. Not for callbacks.
func (h *Hub) Flush() {
	h.life.RLock()
	if !h.started || h.stopped.Load() {
		h.life.RUnlock()
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(h.shards))
	for _, s := range h.shards {
		s.push(item{kind: kindBarrier, wg: &wg})
	}
	h.life.RUnlock()
	wg.Wait()
}

// Shards is the number of shards.
func (h *Hub) Shards() int { return len(h.shards) }
