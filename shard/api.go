package shard

// STUB FILE: the contract used by server/. The shard implementation replaces
// the bodies (and splits by idea: clock.go, wheel.go, table.go, channel.go,
// fanout.go ...).

import (
	"time"

	"github.com/starling-ws/starling/poller"
)

// Clock is the coarse clock: an atomic seconds counter ticked once a second
// by one goroutine. Wheels advance on its ticks.
type Clock struct{ _ [0]func() }

// NewClock returns a stopped clock reading 1.
func NewClock() *Clock { panic("stub") }

// Now is seconds since the clock started (starts at 1, never 0).
func (c *Clock) Now() uint32 { panic("stub") }

// Config configures a Hub. Callbacks are called with no lock held.
type Config struct {
	Shards     int    // power of two; 0 means the next power of two >= GOMAXPROCS
	WheelSlots int    // wheel buckets of one second; 0 means 64 (deadlines may exceed it)
	Clock      *Clock // required

	// OnTimer is called for each connection whose wheel entry came due, from
	// the shard's worker. The entry is disarmed; re-arm with Arm.
	OnTimer func(c *poller.Conn, now uint32)
	// OnSlow is called after a fan-out pass for each recipient whose write
	// reported poller.ErrOverflow.
	OnSlow func(c *poller.Conn)
	// OnFanout, if set, is called once per publish when the last shard has
	// written it: the time from Publish to done, and the recipients written.
	OnFanout func(d time.Duration, recipients int)
	// OnTickLag, if set, is called per shard per tick with how late the
	// wheel advanced relative to the tick's schedule.
	OnTickLag func(d time.Duration)
}

// Ref names a connection's slot in the hub (shard, slot, generation); a
// stale Ref (slot since reused) is ignored by every method.
type Ref uint64

// Frames are the bytes of one publish, one per encoding class (0 binary
// MessagePack, 1 text JSON). Immutable once returned by Builder.Build.
type Frames [2][]byte

// Builder builds a publish's frames once its offset is known. need[e] says
// whether any subscriber uses class e (build only those). It is called with
// the channel's stripe lock held and must not call back into the Hub.
type Builder interface {
	Build(off uint64, need [2]bool) Frames
}

// Hub is the sharded connection table, membership and fan-out.
type Hub struct{ _ [0]func() }

// New builds a hub; Start runs its workers.
func New(cfg Config) (*Hub, error) { panic("stub") }

// Start starts the per-shard workers and hooks the wheels to the clock.
func (h *Hub) Start() { panic("stub") }

// Stop stops the workers after the queued fan-outs are written.
func (h *Hub) Stop() { panic("stub") }

// Shards is the number of shards.
func (h *Hub) Shards() int { panic("stub") }

// Add registers c and arms its wheel entry for tick due.
func (h *Hub) Add(c *poller.Conn, due uint32) Ref { panic("stub") }

// Remove drops the connection from its shard, its channels and the wheel.
func (h *Hub) Remove(r Ref) { panic("stub") }

// Arm (re)schedules r's single wheel entry for tick due. O(1), no allocation.
func (h *Hub) Arm(r Ref, due uint32) { panic("stub") }

// Subscribe adds r's connection to ch with encoding class enc. It reports
// false if it was already subscribed.
func (h *Hub) Subscribe(r Ref, ch []byte, enc uint8) bool { panic("stub") }

// Unsubscribe removes r's connection from ch; false if it was not subscribed.
func (h *Hub) Unsubscribe(r Ref, ch []byte) bool { panic("stub") }

// Publish takes ch's next offset (offsets start at 1 and grow by one per
// publish while the channel exists) and, if ch has subscribers, builds the
// frames once and queues them to every shard holding subscribers. Per
// channel, every recipient sees publishes in offset order.
func (h *Hub) Publish(ch []byte, b Builder) (off uint64, recipients int) { panic("stub") }

// Each calls fn for every registered connection (drain; not a hot path).
func (h *Hub) Each(fn func(c *poller.Conn)) { panic("stub") }

// Stats is folded from the shards at read time.
type Stats struct {
	Conns         int64
	Channels      int64
	Subscriptions int64
	Publishes     uint64
	Deliveries    uint64
	Slow          uint64
	PerShardConns []int64
}

// Stats reads the counters.
func (h *Hub) Stats() Stats { panic("stub") }
