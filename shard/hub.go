package shard

import (
	"context"
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
// shard's worker goroutine; they may call any Hub method but Flush, Stop
// and Drain (the worker would wait on itself).
type Config struct {
	Shards     int    // power of two, at most 256; 0 means the next power of two >= GOMAXPROCS
	WheelSlots int    // wheel buckets of one second (rounded up to a power of two); 0 means 64
	Clock      *Clock // required

	// QueueBytes bounds, per shard, the payload bytes of publishes queued
	// for the shard's worker and not yet written. A publish that would
	// pass it on any shard it must reach is refused with ErrBusy. 0 means
	// DefaultQueueBytes.
	QueueBytes int64
	// MaxChannels bounds the channels that exist at once (with subscribers
	// or kept for their history). A subscribe or publish that would create
	// one more gets ErrTooManyChannels. 0 means no bound.
	MaxChannels int
	// History keeps recent publications per channel for resume; the zero
	// value keeps none.
	History HistoryConfig
	// Epoch, if not 0, is every channel's epoch: a cluster's, the one its
	// bus sequences channels in (PublishAt). 0: each channel draws a random
	// one when it is created.
	Epoch uint32

	// OnTimer is called for each connection whose wheel entry came due,
	// and returns the tick its entry is due next (0: leave it disarmed).
	// The worker re-arms the entry at once, ahead of ticks already queued
	// (an Arm from the callback would be served after them).
	OnTimer func(c *poller.Conn, now uint32) (next uint32)
	// OnSlow is called after a fan-out pass for each recipient whose write
	// reported poller.ErrOverflow.
	OnSlow func(c *poller.Conn)
	// OnFanout, if set, is called once per publish when the last shard has
	// written it: the time from Publish to done, and the recipients written.
	OnFanout func(d time.Duration, recipients int)
	// OnTickLag, if set, is called per shard per tick with how late the
	// wheel advanced relative to the tick's schedule.
	OnTickLag func(d time.Duration)
	// OnJoinWait, if set, is called for every join (a sub) with how long it
	// waited in the shard's inbox before its ack was written: the server's
	// share of a sub's latency, and the measure of "no loop waits for a
	// fan-out" (a join waits at most one chunk of one).
	OnJoinWait func(d time.Duration)
	// OnPanic, if set, is told about a panic the worker contained (in a
	// callback or a Payload); the worker goes on with the next request.
	OnPanic func(where string, v any, stack []byte)
}

// DefaultQueueBytes is Config.QueueBytes' default: 64 MiB of payload per
// shard, about 6,000 publishes of 10 KiB or a million of 64 bytes.
const DefaultQueueBytes = 64 << 20

const (
	maxShards    = 256
	defaultSlots = 64
)

var (
	// ErrBusy: a shard's fan-out queue is over Config.QueueBytes.
	ErrBusy = errors.New("shard: fan-out queue full")
	// ErrTooManyChannels: Config.MaxChannels channels exist.
	ErrTooManyChannels = errors.New("shard: channel limit reached")
	// ErrStopped: the hub is stopped.
	ErrStopped = errors.New("shard: hub stopped")
	// ErrName: a channel name longer than 255 bytes.
	ErrName = errors.New("shard: channel name too long")
)

// Hub is the sharded connection table, channel table and fan-out.
type Hub struct {
	cfg     Config
	clock   *Clock
	shards  []*shard
	mask    uint32
	next    atomic.Uint32 // round-robin shard assignment for Add
	seed    maphash.Seed
	stripes [nStripes]stripe
	nchan   atomic.Int64  // channels that exist, for MaxChannels
	epoch   atomic.Uint32 // Config.Epoch, or SetEpoch's: new channels' epoch (0: random each)
	hist    histGlobal

	// life guards the started/stopped transitions against Flush.
	life    sync.RWMutex
	started bool
	stopped atomic.Bool // read by Publish and Subscribe under a stripe lock
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
		n = min(nextPow2(runtime.GOMAXPROCS(0)), maxShards)
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
	if cfg.QueueBytes < 0 || cfg.MaxChannels < 0 {
		return nil, fmt.Errorf("shard: QueueBytes %d, MaxChannels %d: want >= 0", cfg.QueueBytes, cfg.MaxChannels)
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if err := cfg.History.validate(); err != nil {
		return nil, err
	}
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
		h.shards[i] = newShard(h, uint8(i), nextPow2(slots), now)
	}
	for i := range h.stripes {
		h.stripes[i].tab.seed = h.seed
	}
	h.hist.init(cfg.History)
	h.epoch.Store(cfg.Epoch)
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
// Requests posted before Start are served once it runs. Calling Start
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

// Stop stops the workers after what is queued has been served. Publish and
// Subscribe after Stop return ErrStopped. Safe to call more than once.
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
	// drain sees their work.
	for i := range h.stripes {
		h.stripes[i].mu.Lock()
		h.stripes[i].mu.Unlock() //nolint:staticcheck // barrier
	}
	close(h.quit)
	if started {
		h.wg.Wait()
	}
}

// Flush waits until every shard worker has served what was posted before
// the call: control requests and publishes. It returns at once if the hub
// is not running. Not for callbacks.
func (h *Hub) Flush() {
	h.life.RLock()
	if !h.started || h.stopped.Load() {
		h.life.RUnlock()
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(h.shards))
	for _, s := range h.shards {
		// A publish barrier is reached only after every earlier publish,
		// and the worker serves the control inbox before each publish, so
		// earlier control requests are served too.
		s.pushPub(item{wg: &wg})
	}
	h.life.RUnlock()
	wg.Wait()
}

// FlushContext is Flush bounded by ctx: it returns ctx.Err() if ctx ends
// first (the workers still pass their barriers later, harmlessly).
func (h *Hub) FlushContext(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.Flush()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetEpoch sets the epoch channels created from now on get (a cluster bus
// learns its stream's epoch after connecting, and again when the stream is
// recreated; existing channels follow with their next PublishAt).
func (h *Hub) SetEpoch(e uint32) { h.epoch.Store(e) }

// Shards is the number of shards.
func (h *Hub) Shards() int { return len(h.shards) }

// contain runs after a recover() in the worker: it tells OnPanic.
func (h *Hub) contain(where string, v any) {
	if cb := h.cfg.OnPanic; cb != nil {
		buf := make([]byte, 8<<10)
		buf = buf[:runtime.Stack(buf, false)]
		cb(where, v, buf)
	}
}
