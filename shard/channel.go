package shard

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/starling-ws/starling/poller"
)

// Channel state lives in two places:
//
//   - chanMeta, in one of nStripes stripes picked by a hash of the name:
//     the offset counter, subscriber counts per encoding class and, per
//     shard, that shard's members list. It exists exactly while the channel
//     has subscribers. Publish needs only its stripe lock.
//   - members, one per (channel, shard) with subscribers there: dense
//     per-class slices of connections that the fan-out worker walks. A
//     members list is read and written only under its shard's mu.
//
// A subscription is recorded twice: in members (conn + owning slot, at some
// position) and in the slot's subs (members pointer + that position), which
// gives O(1) swap-remove from either side and lets Remove(r) leave every
// channel without the caller keeping a list. "Already subscribed" is a scan
// of the slot's subs, which is short for the usual handful of channels per
// connection.
const nStripes = 64

type stripe struct {
	mu        sync.Mutex
	m         map[string]*chanMeta
	nchan     atomic.Int64  // len(m), for Stats without the lock
	publishes atomic.Uint64 // written under mu
	_         [64]byte      // keep neighbouring stripes' locks off one cache line
}

type chanMeta struct {
	name   string
	off    uint64
	subs   [2]int64
	mem    []*members // per shard; nil where the shard has no subscriber
	stripe uint8
}

type members struct {
	meta  *chanMeta
	conns [2][]*poller.Conn
	slots [2][]int32 // owning slot of conns[e][k], to fix up a moved entry
}

// sub is one of a slot's subscriptions: where in m it sits.
type sub struct {
	m   *members
	pos int32
	enc uint8
}

func (h *Hub) stripeOf(ch []byte) uint8 {
	return uint8(maphash.Bytes(h.seed, ch) & (nStripes - 1))
}

func (sl *slot) find(m *members) int {
	for j := range sl.subs {
		if sl.subs[j].m == m {
			return j
		}
	}
	return -1
}

// Subscribe adds r's connection to ch with encoding class enc (0 binary,
// 1 text). It reports false if it was already subscribed, if enc is not 0
// or 1, or if r is stale.
func (h *Hub) Subscribe(r Ref, ch []byte, enc uint8) bool {
	if enc > 1 {
		return false
	}
	s, i, gen := h.split(r)
	if s == nil {
		return false
	}
	s.mu.Lock()
	if !s.live(i, gen) {
		s.mu.Unlock()
		return false
	}
	si := h.stripeOf(ch)
	st := &h.stripes[si]
	st.mu.Lock()
	meta := st.m[string(ch)]
	var m *members
	if meta != nil {
		m = meta.mem[s.id]
		if m != nil && s.slots[i].find(m) >= 0 {
			st.mu.Unlock()
			s.mu.Unlock()
			return false
		}
	} else {
		meta = &chanMeta{name: string(ch), mem: make([]*members, len(h.shards)), stripe: si}
		st.m[meta.name] = meta
		st.nchan.Add(1)
	}
	if m == nil {
		m = &members{meta: meta}
		meta.mem[s.id] = m
	}
	meta.subs[enc]++
	st.mu.Unlock()

	// m is guarded by s.mu, still held: a Publish that already sees m in
	// meta.mem queues a task whose worker waits for s.mu and then finds
	// this connection in place.
	pos := int32(len(m.conns[enc]))
	m.conns[enc] = append(m.conns[enc], s.slots[i].conn)
	m.slots[enc] = append(m.slots[enc], i)
	s.slots[i].subs = append(s.slots[i].subs, sub{m: m, pos: pos, enc: enc})
	s.nsubs.Add(1)
	s.mu.Unlock()
	return true
}

// Unsubscribe removes r's connection from ch; false if it was not subscribed.
func (h *Hub) Unsubscribe(r Ref, ch []byte) bool {
	s, i, gen := h.split(r)
	if s == nil {
		return false
	}
	s.mu.Lock()
	if !s.live(i, gen) {
		s.mu.Unlock()
		return false
	}
	st := &h.stripes[h.stripeOf(ch)]
	st.mu.Lock()
	ok := false
	if meta := st.m[string(ch)]; meta != nil {
		if m := meta.mem[s.id]; m != nil {
			if j := s.slots[i].find(m); j >= 0 {
				h.dropSub(s, i, j, st)
				ok = true
			}
		}
	}
	st.mu.Unlock()
	s.mu.Unlock()
	return ok
}

// dropSub removes slot i's j-th subscription. The caller holds s.mu and st,
// the channel's stripe lock. The last subscriber in a shard takes the
// members list with it; the last in the hub takes the channel (and so its
// offset) with it.
func (h *Hub) dropSub(s *shard, i int32, j int, st *stripe) {
	sl := &s.slots[i]
	sb := sl.subs[j]
	m := sb.m
	if moved, ok := m.remove(sb.enc, sb.pos); ok {
		ms := &s.slots[moved]
		ms.subs[ms.find(m)].pos = sb.pos
	}
	last := len(sl.subs) - 1
	sl.subs[j] = sl.subs[last]
	sl.subs[last] = sub{}
	sl.subs = sl.subs[:last]
	s.nsubs.Add(-1)

	meta := m.meta
	meta.subs[sb.enc]--
	if len(m.conns[0])+len(m.conns[1]) == 0 {
		meta.mem[s.id] = nil
	}
	if meta.subs[0]+meta.subs[1] == 0 {
		delete(st.m, meta.name)
		st.nchan.Add(-1)
	}
}

// remove swap-removes position pos of class enc and reports which slot's
// entry moved into pos, if any.
func (m *members) remove(enc uint8, pos int32) (moved int32, ok bool) {
	cs, ss := m.conns[enc], m.slots[enc]
	last := int32(len(cs) - 1)
	if pos != last {
		cs[pos], ss[pos] = cs[last], ss[last]
		moved, ok = ss[pos], true
	}
	cs[last] = nil
	cs, ss = cs[:last], ss[:last]
	// Give memory back once a big channel has mostly emptied; amortised
	// O(1) since it happens at most once per halving.
	if c := cap(cs); c > 64 && len(cs) < c/4 {
		cs = append(make([]*poller.Conn, 0, 2*len(cs)), cs...)
		ss = append(make([]int32, 0, 2*len(ss)), ss...)
	}
	m.conns[enc], m.slots[enc] = cs, ss
	return moved, ok
}

// Offset is ch's last published offset, 0 if ch has no subscribers.
func (h *Hub) Offset(ch []byte) uint64 {
	st := &h.stripes[h.stripeOf(ch)]
	st.mu.Lock()
	var off uint64
	if meta := st.m[string(ch)]; meta != nil {
		off = meta.off
	}
	st.mu.Unlock()
	return off
}
