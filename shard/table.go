package shard

import (
	"sync"
	"sync/atomic"

	"github.com/starling-ws/starling/poller"
)

// shard is one worker's domain. The inbox (imu, ctl, pubs) is shared with
// the posting goroutines; everything below "worker-owned" is touched by the
// worker goroutine alone.
type shard struct {
	hub *Hub
	id  uint8

	imu    sync.Mutex // leaf: held only to append to or swap ctl and pubs
	ctl    []req
	pubs   []item
	ctlN   atomic.Int32 // len(ctl) as last stored: the worker polls it mid-fan-out
	qbytes atomic.Int64 // payload bytes of queued publishes (Config.QueueBytes)
	wake   chan struct{}

	// worker-owned
	slots  []slot
	free   int32 // head of the free-slot list, -1 when empty
	wheel  wheel
	groups []*group                   // by gid
	gfree  []uint32                   // free gids
	pend   map[uint64]uint64          // pending members: pendKey(gid, slot) -> offset their stream starts after
	heavy  map[int32]map[uint32]int32 // sub index of slots with more than heavyAt subscriptions
	cur    *group                     // the group being fanned out: removals from it are deferred
	dirty  bool                       // cur has tombstoned entries to sweep

	ctlSpare []req
	pubSpare []item
	bufs     [NClass][][]byte // per class, the frames of the run being written
	rbufs    [][]byte         // a join's replay (served between chunks of a run: never bufs)
	slow     []*poller.Conn
	fired    []int32
	done     []*task

	nconns     atomic.Int64
	nsubs      atomic.Int64
	npend      atomic.Int64
	deliveries atomic.Uint64
	slowN      atomic.Uint64
}

// slot is one connection's entry: 48 bytes on 64-bit. prev/next thread the
// wheel bucket lists (next also threads the free list while the slot is
// unused); due is the absolute tick the entry fires at, 0 when not armed.
// subs lists the connection's subscriptions on this shard, so Remove can
// leave every channel without help from the caller.
type slot struct {
	conn *poller.Conn
	subs []sub
	prev int32
	next int32
	due  uint32
}

// sub is one of a slot's subscriptions: its group (by gid) and its entry's
// position there. 8 bytes.
type sub struct {
	gid uint32
	pos uint32
}

// A member entry (group.ents) packs, in one uint64, the member's slot, the
// index of the matching sub in that slot (so a move in either list is fixed
// up in O(1)), its class, and two flags.
const (
	entSlotBits  = 24 // slots per shard
	entSlotMask  = 1<<entSlotBits - 1
	entBackShift = 24
	entBackMask  = 1<<16 - 1 // subscriptions per connection
	entClsShift  = 40
	entPend      = 1 << 42 // joined while older publishes were queued: see join
	entDead      = 1 << 43 // left during the fan-out of its group: swept after it
	maxSlots     = 1 << entSlotBits
	// MaxSubscriptions is the most subscriptions one connection may hold
	// on a shard (the entry's back index is 16 bits).
	MaxSubscriptions = entBackMask + 1
)

func mkEntry(slot int32, back int, cls Class) uint64 {
	return uint64(slot) | uint64(back)<<entBackShift | uint64(cls)<<entClsShift
}
func entSlot(e uint64) int32 { return int32(e & entSlotMask) }
func entBack(e uint64) int   { return int(e >> entBackShift & entBackMask) }
func entCls(e uint64) Class  { return Class(e >> entClsShift & (NClass - 1)) }
func setBack(e uint64, back int) uint64 {
	return e&^(entBackMask<<entBackShift) | uint64(back)<<entBackShift
}

func pendKey(gid uint32, slot int32) uint64 { return uint64(gid)<<32 | uint64(uint32(slot)) }

// heavyAt: beyond this many subscriptions a slot's subs get a map index, so
// finding one (a duplicate sub, an unsub) stays O(1) for a connection with
// thousands of channels, while the common few are a short scan.
const heavyAt = 32

func newShard(h *Hub, id uint8, wheelSlots int, now uint32) *shard {
	s := &shard{hub: h, id: id, free: -1, wake: make(chan struct{}, 1), pend: map[uint64]uint64{}}
	s.wheel.init(wheelSlots, now)
	return s
}

// alloc takes a free slot or grows the table; -1 when the shard is full.
func (s *shard) alloc() int32 {
	if i := s.free; i >= 0 {
		s.free = s.slots[i].next
		s.slots[i].next = -1
		return i
	}
	if len(s.slots) >= maxSlots {
		return -1
	}
	s.slots = append(s.slots, slot{prev: -1, next: -1})
	return int32(len(s.slots) - 1)
}

// release returns slot i to the free list.
func (s *shard) release(i int32) {
	s.slots[i] = slot{prev: -1, next: s.free}
	s.free = i
}

// assignGid gives g an index in the group table.
func (s *shard) assignGid(g *group) {
	if n := len(s.gfree); n > 0 {
		g.gid = s.gfree[n-1]
		s.gfree = s.gfree[:n-1]
		s.groups[g.gid] = g
		return
	}
	g.gid = uint32(len(s.groups))
	s.groups = append(s.groups, g)
}

func (s *shard) freeGid(g *group) {
	if g.gid == noGid {
		return
	}
	s.groups[g.gid] = nil
	s.gfree = append(s.gfree, g.gid)
	g.gid = noGid
}

// findSub is the index in slot i's subs of its subscription to group gid,
// or -1.
func (s *shard) findSub(i int32, gid uint32) int {
	subs := s.slots[i].subs
	if len(subs) > heavyAt {
		if k, ok := s.heavy[i][gid]; ok {
			return int(k)
		}
		return -1
	}
	for k := range subs {
		if subs[k].gid == gid {
			return k
		}
	}
	return -1
}

// addSub appends a subscription to slot i and keeps its index.
func (s *shard) addSub(i int32, sb sub) int {
	sl := &s.slots[i]
	sl.subs = append(sl.subs, sb)
	k := len(sl.subs) - 1
	switch {
	case k+1 > heavyAt && s.heavy[i] == nil:
		idx := make(map[uint32]int32, 2*heavyAt)
		for j, x := range sl.subs {
			idx[x.gid] = int32(j)
		}
		if s.heavy == nil {
			s.heavy = map[int32]map[uint32]int32{}
		}
		s.heavy[i] = idx
	case k+1 > heavyAt:
		s.heavy[i][sb.gid] = int32(k)
	}
	return k
}

// cutSub swap-removes slot i's k-th subscription, fixing up the entry of
// the one that moved into k.
func (s *shard) cutSub(i int32, k int) {
	sl := &s.slots[i]
	idx := s.heavy[i]
	if idx != nil {
		delete(idx, sl.subs[k].gid)
	}
	last := len(sl.subs) - 1
	if k != last {
		m := sl.subs[last]
		sl.subs[k] = m
		g := s.groups[m.gid]
		g.set(int(m.pos), setBack(g.at(int(m.pos)), k))
		if idx != nil {
			idx[m.gid] = int32(k)
		}
	}
	sl.subs[last] = sub{}
	sl.subs = sl.subs[:last]
	if idx != nil && last <= heavyAt/2 {
		delete(s.heavy, i)
	}
	if last == 0 {
		sl.subs = nil // an idle connection holds nothing
	} else if c := cap(sl.subs); c > 8 && last < c/4 {
		sl.subs = append(make([]sub, 0, 2*last), sl.subs...)
	}
}

// cutEntry removes the entry at pos from g. Within the group being fanned
// out it only tombstones it (positions must not move under the fan-out);
// sweep removes it afterwards.
func (s *shard) cutEntry(g *group, pos uint32) {
	if g == s.cur {
		g.set(int(pos), g.at(int(pos))|entDead)
		s.dirty = true
		return
	}
	s.swapOut(g, int(pos))
}

// swapOut swap-removes g.ents[pos], fixing up the sub of the entry that
// moved into pos.
func (s *shard) swapOut(g *group, pos int) {
	last := g.size() - 1
	if pos != last {
		e := g.at(last)
		g.set(pos, e)
		if e&entDead == 0 {
			sl := &s.slots[entSlot(e)]
			sl.subs[entBack(e)].pos = uint32(pos)
		}
	}
	g.pop()
	if last == 0 {
		s.freeGid(g) // no sub refers to it any more
	}
}

// sweep removes the tombstones a fan-out left in g.
func (s *shard) sweep(g *group) {
	for i := 0; i < g.size(); {
		if g.at(i)&entDead != 0 {
			s.swapOut(g, i) // the entry moved into i is examined next
			continue
		}
		i++
	}
}
