package shard

import (
	"sync"
	"sync/atomic"

	"github.com/starling-ws/starling/poller"
)

// Ref names a connection's slot in the hub (shard, slot, generation); a
// stale Ref (slot since reused) is ignored by every method. Ref 0 is never
// handed out (generations start at 1), so it is a safe "none".
//
// Layout: bits 0-7 shard, 8-31 slot, 32-63 generation.
type Ref uint64

const (
	shardBits = 8
	slotBits  = 24
	maxSlots  = 1 << slotBits // per shard
)

func makeRef(shard uint32, slot int32, gen uint32) Ref {
	return Ref(uint64(gen)<<32 | uint64(uint32(slot))<<shardBits | uint64(shard))
}

// slot is one connection's entry: 48 bytes on 64-bit. prev/next thread the
// wheel bucket lists (next also threads the free list while the slot is
// unused); due is the absolute tick the entry fires at, 0 when not armed.
// subs lists the channels the connection joined in this shard, so Remove
// can drop it from all of them without help from the caller.
type slot struct {
	conn *poller.Conn
	subs []sub
	gen  uint32
	prev int32
	next int32
	due  uint32
}

// shard is one lock domain. mu guards slots, free, wheel and every members
// list reachable from this shard; the fan-out worker reads members under
// mu.RLock. qmu guards only the work queue (a leaf lock).
type shard struct {
	mu    sync.RWMutex
	id    uint32
	slots []slot
	free  int32 // head of the free-slot list, -1 when empty
	wheel wheel

	nconns atomic.Int64 // written under mu, read by Stats without it
	nsubs  atomic.Int64

	qmu  sync.Mutex
	q    []item
	wake chan struct{}

	// Owned by the worker goroutine: reusable scratch so a pass allocates
	// nothing.
	spare []item
	bufs  [][]byte
	slow  []*poller.Conn
	fired []*poller.Conn
	done  []*task

	deliveries atomic.Uint64
	slowN      atomic.Uint64
}

func newShard(id uint32, wheelSlots int, now uint32) *shard {
	s := &shard{id: id, free: -1, wake: make(chan struct{}, 1)}
	s.wheel.init(wheelSlots, now)
	return s
}

// alloc takes a free slot (generation already bumped on release) or grows
// the table. -1 when the shard is full.
func (s *shard) alloc() int32 {
	if i := s.free; i >= 0 {
		s.free = s.slots[i].next
		return i
	}
	if len(s.slots) >= maxSlots {
		return -1
	}
	s.slots = append(s.slots, slot{gen: 1, prev: -1, next: -1})
	return int32(len(s.slots) - 1)
}

// release returns slot i to the free list. Bumping the generation here is
// what turns every outstanding Ref to it stale.
func (s *shard) release(i int32) {
	sl := &s.slots[i]
	sl.conn = nil
	sl.subs = nil
	sl.gen++
	if sl.gen == 0 {
		sl.gen = 1
	}
	sl.prev = -1
	sl.next = s.free
	s.free = i
}

// split decodes r; the caller must lock s and check live(i, gen).
func (h *Hub) split(r Ref) (s *shard, i int32, gen uint32) {
	si := uint32(r) & (maxShards - 1)
	if int(si) >= len(h.shards) {
		return nil, 0, 0
	}
	return h.shards[si], int32(uint32(r) >> shardBits), uint32(r >> 32)
}

func (s *shard) live(i int32, gen uint32) bool {
	return int(i) < len(s.slots) && s.slots[i].gen == gen && s.slots[i].conn != nil
}

// Add registers c and arms its wheel entry for tick due (0: not armed). It
// returns 0 if c is nil or the shard is full (2^24 connections).
func (h *Hub) Add(c *poller.Conn, due uint32) Ref {
	if c == nil {
		return 0
	}
	s := h.shards[h.next.Add(1)&h.mask]
	s.mu.Lock()
	i := s.alloc()
	if i < 0 {
		s.mu.Unlock()
		return 0
	}
	s.slots[i].conn = c
	s.wheel.arm(s.slots, i, due)
	r := makeRef(s.id, i, s.slots[i].gen)
	s.nconns.Add(1)
	s.mu.Unlock()
	return r
}

// Remove drops the connection from its shard, its channels and the wheel.
// Fan-outs already queued for its channels no longer reach it once Remove
// returns.
func (h *Hub) Remove(r Ref) {
	s, i, gen := h.split(r)
	if s == nil {
		return
	}
	s.mu.Lock()
	if !s.live(i, gen) {
		s.mu.Unlock()
		return
	}
	for n := len(s.slots[i].subs); n > 0; n = len(s.slots[i].subs) {
		st := &h.stripes[s.slots[i].subs[n-1].m.meta.stripe]
		st.mu.Lock()
		h.dropSub(s, i, n-1, st)
		st.mu.Unlock()
	}
	s.wheel.arm(s.slots, i, 0)
	s.release(i)
	s.nconns.Add(-1)
	s.mu.Unlock()
}

// Arm (re)schedules r's single wheel entry for tick due (0 disarms). A due
// tick already past fires on the shard's next tick. O(1), no allocation.
func (h *Hub) Arm(r Ref, due uint32) {
	s, i, gen := h.split(r)
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.live(i, gen) {
		s.wheel.arm(s.slots, i, due)
	}
	s.mu.Unlock()
}

// Conn returns r's connection, or nil for a stale Ref.
func (h *Hub) Conn(r Ref) *poller.Conn {
	s, i, gen := h.split(r)
	if s == nil {
		return nil
	}
	s.mu.RLock()
	var c *poller.Conn
	if s.live(i, gen) {
		c = s.slots[i].conn
	}
	s.mu.RUnlock()
	return c
}

// Each calls fn for every registered connection (drain; not a hot path).
// fn is called with no lock held, one shard's snapshot at a time, so it may
// call Remove.
func (h *Hub) Each(fn func(c *poller.Conn)) {
	var buf []*poller.Conn
	for _, s := range h.shards {
		s.mu.RLock()
		for k := range s.slots {
			if c := s.slots[k].conn; c != nil {
				buf = append(buf, c)
			}
		}
		s.mu.RUnlock()
		for _, c := range buf {
			fn(c)
		}
		clear(buf)
		buf = buf[:0]
	}
}
