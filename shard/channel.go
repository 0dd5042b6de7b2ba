package shard

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Channel state is split by owner:
//
//   - channel, in one of nStripes stripes picked by a hash of the name,
//     under the stripe's mutex: offset, epoch, history, subscriber count,
//     and the groups (one per shard with members).
//   - group.ents, the member array a fan-out walks, belongs to the worker
//     of group.shard alone. The stripe side of a group (n, next) is what
//     Publish and Subscribe read under the stripe lock.
//
// A channel exists while it has subscribers, or (with history on) while it
// keeps publications: Config.History.TTL after its last subscriber left.
// It is created by the first Subscribe (or, with history on, the first
// Publish) and gets a new random epoch each time, so a client holding an
// offset from an earlier life of the channel is told it cannot recover.
const nStripes = 64

type stripe struct {
	mu        sync.Mutex
	tab       chanTab
	lru       histList      // channels with retained publications, least recently published first
	nchan     atomic.Int64  // channels in tab, for Stats without the lock
	publishes atomic.Uint64 // written under mu
	_         [64]byte      // keep neighbouring stripes' locks off one cache line
}

// channel is 80 bytes on 64-bit (TestChannelSize), name included when it
// is 16 bytes or shorter: with its slot in the stripe's table, one member
// and the member's side, a subscription on a channel of its own costs under
// 128 bytes (TestMillionOwnChannels).
type channel struct {
	off  uint64   // last offset taken
	hist *history // nil while nothing is retained
	// home is the group of the first shard that had a member; other shards'
	// groups (groupExt) hang off home.next. Most channels live on one
	// shard, so most never allocate a group of their own.
	home   group
	epoch  uint32
	stripe uint8
	homed  bool  // home.shard is set (by the first Subscribe); a channel made by a Publish has none yet
	nlen   uint8 // the name's length
	// name0 holds the name's first 16 bytes; a longer name continues past
	// the end of the record, in the same allocation (newChannel). A name
	// kept in its own string would cost a 16-byte header here plus a
	// separate object: 12% of a channel of one.
	name0 [16]byte
}

// name is c's name, aliasing the record (immutable once made).
func (c *channel) name() string { return unsafe.String(&c.name0[0], int(c.nlen)) }

// maxName is the longest channel name the hub keeps (the protocol allows
// 128 bytes).
const maxName = 255

// newChannel allocates a record with room for name in one object: names of
// up to 16 bytes fit the record; longer ones take a size class above it.
func newChannel(name []byte) *channel {
	var c *channel
	switch n := len(name); {
	case n <= 16:
		c = new(channel)
	case n <= 16+32:
		c = &new(struct {
			channel
			_ [32]byte
		}).channel
	case n <= 16+64:
		c = &new(struct {
			channel
			_ [64]byte
		}).channel
	case n <= 16+128:
		c = &new(struct {
			channel
			_ [128]byte
		}).channel
	default:
		c = &new(struct {
			channel
			_ [maxName - 16]byte
		}).channel
	}
	c.nlen = uint8(len(name))
	copy(unsafe.Slice(&c.name0[0], len(name)), name)
	return c
}

// group is one channel's members on one shard: 40 bytes.
type group struct {
	next *group // stripe-owned: the channel's next group
	// The member array (worker-owned): p[:n] with capacity c, one entry per
	// member (see entry encoding in table.go), in no particular order.
	// While the group has a single member, p is nil and the entry itself is
	// kept in n (low half) and c (high half), with one set: a channel of
	// one allocates no array.
	p    *uint64
	n, c uint32
	// q counts publishes queued for this group and not yet written:
	// incremented by Publish under the stripe lock, decremented by the
	// worker. A join that finds it zero needs no pending state.
	q     atomic.Int32
	cnt   int32  // stripe-owned: members, including joins not yet served
	gid   uint32 // worker-owned: index in the shard's group table, noGid if none
	shard uint8
	ext   bool // a groupExt, not a channel's home (set at creation)
	one   bool // worker-owned: the single-member form (see p)
}

// groupExt is a group of a shard other than the channel's home.
type groupExt struct {
	group
	ch *channel
}

const noGid = ^uint32(0)

// channel returns the channel g belongs to: the record it is embedded in
// (home), or the one a groupExt names.
func (g *group) channel() *channel {
	if g.ext {
		return (*groupExt)(unsafe.Pointer(g)).ch
	}
	return (*channel)(unsafe.Add(unsafe.Pointer(g), -int(unsafe.Offsetof(channel{}.home))))
}

func (h *Hub) hash(ch []byte) uint64 { return maphash.Bytes(h.seed, ch) }

// lockChannel locks ch's stripe and looks ch up (nil if it does not
// exist); the caller unlocks st.mu.
func (h *Hub) lockChannel(ch []byte) (st *stripe, c *channel, hash uint64) {
	hash = h.hash(ch)
	st = &h.stripes[stripeOfHash(hash)]
	st.mu.Lock()
	return st, st.tab.get(ch, hash), hash
}

// validName reports whether the hub can keep ch (the protocol's own limit
// is lower).
func validName(ch []byte) bool { return len(ch) <= maxName }

func stripeOfHash(hash uint64) uint8 { return uint8(hash & (nStripes - 1)) }

// create makes ch's record, or reports false at Config.MaxChannels.
// Caller holds st.mu.
func (h *Hub) create(st *stripe, hash uint64, ch []byte) (*channel, bool) {
	if max := h.cfg.MaxChannels; max > 0 {
		// At the limit, a channel nobody is subscribed to (kept only for
		// resumes, -history-ttl) gives way: otherwise one client churning
		// sub/unsub through fresh names would hold the whole table idle
		// and refuse every other client's new channel. drop takes its
		// count off, so this call's stands.
		if h.nchan.Add(1) > int64(max) && !h.evictIdleAny(st, stripeOfHash(hash)) {
			h.nchan.Add(-1)
			return nil, false
		}
	} else {
		h.nchan.Add(1)
	}
	c := newChannel(ch)
	c.stripe, c.epoch = stripeOfHash(hash), h.epoch.Load()
	if c.epoch == 0 {
		c.epoch = newEpoch()
	}
	c.home.gid = noGid
	st.tab.put(c, hash)
	st.nchan.Add(1)
	return c, true
}

// evictScan bounds evictIdle's walk, so that a stripe whose least recently
// published channels all have subscribers costs a create a few steps, not
// a scan of the stripe.
const evictScan = 32

// evictIdle ends the least recently used channel of st that has no
// subscriber, with what it retains, and reports whether there was one
// within evictScan steps of st's LRU head. Every idle channel is on that
// list (history's idle), so with history off there is none: a channel
// without subscribers is dropped at once. Caller holds st.mu.
func (h *Hub) evictIdle(st *stripe) bool {
	hs := st.lru.head
	for n := 0; hs != nil && n < evictScan; n++ {
		if c := hs.ch; !c.subscribed() {
			h.drop(st, c)
			h.hist.idleEvicted.Add(1)
			return true
		}
		hs = hs.next
	}
	return false
}

// evictIdleAny is evictIdle on st, then on the other stripes whose lock is
// free: TryLock, because the caller holds st.mu and stripes have no lock
// order (a stripe busy now is skipped, not waited for). Caller holds st.mu;
// i is st's index.
func (h *Hub) evictIdleAny(st *stripe, i uint8) bool {
	if h.evictIdle(st) {
		return true
	}
	for k := 1; k < nStripes; k++ {
		o := &h.stripes[(int(i)+k)%nStripes]
		if !o.mu.TryLock() {
			continue
		}
		ok := h.evictIdle(o)
		o.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// drop deletes c from its stripe. Caller holds st.mu; c has no member and
// nothing retained.
func (h *Hub) drop(st *stripe, c *channel) {
	if c.hist != nil {
		h.hist.release(st, c)
	}
	st.tab.del(c, maphash.String(h.seed, c.name()))
	st.nchan.Add(-1)
	h.nchan.Add(-1)
}

// newEpoch is a random non-zero 32-bit epoch: a client can tell two lives of
// a channel apart with odds of 2^-32 per restart.
func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}

// groupOn returns c's group on shard sid, or nil. Caller holds the stripe lock.
func (c *channel) groupOn(sid uint8) *group {
	if c.homed && c.home.shard == sid {
		return &c.home
	}
	for g := c.home.next; g != nil; g = g.next {
		if g.shard == sid {
			return g
		}
	}
	return nil
}

// groupFor returns c's group on shard sid, making it if needed. Caller
// holds the stripe lock.
func (c *channel) groupFor(sid uint8) *group {
	if !c.homed {
		c.homed, c.home.shard = true, sid
		return &c.home
	}
	if g := c.groupOn(sid); g != nil {
		return g
	}
	x := &groupExt{group: group{next: c.home.next, gid: noGid, shard: sid, ext: true}, ch: c}
	c.home.next = &x.group
	return &x.group
}

// unlink removes an empty non-home group from c's chain, so later joins
// make a fresh one. Caller holds the stripe lock.
func (c *channel) unlink(g *group) {
	if !g.ext {
		return
	}
	for p := &c.home; p.next != nil; p = p.next {
		if p.next == g {
			p.next = g.next
			return
		}
	}
}

// subscribed reports whether c has a member or a join on its way. Caller
// holds the stripe lock. (Walking the groups is cheaper than a counter in
// the record: the walk happens when a member leaves, the counter would be
// paid by every channel.)
func (c *channel) subscribed() bool {
	for g := &c.home; g != nil; g = g.next {
		if g.cnt > 0 {
			return true
		}
	}
	return false
}

// retained reports whether c must outlive its last subscriber: it has a
// history record (publications, or none yet), kept -history-ttl.
func (c *channel) retained() bool { return c.hist != nil }

// ---- the member array (worker-owned) ----

func (g *group) size() int {
	if g.p == nil {
		if g.one {
			return 1
		}
		return 0
	}
	return int(g.n)
}

func (g *group) arr() []uint64 { return unsafe.Slice(g.p, g.c)[:g.n] }

func (g *group) at(i int) uint64 {
	if g.p == nil {
		return uint64(g.n) | uint64(g.c)<<32
	}
	return g.arr()[i]
}

func (g *group) set(i int, e uint64) {
	if g.p == nil {
		g.n, g.c = uint32(e), uint32(e>>32)
		return
	}
	g.arr()[i] = e
}

// push appends e.
func (g *group) push(e uint64) {
	switch {
	case g.p == nil && !g.one:
		g.one = true
		g.set(0, e)
		return
	case g.p == nil:
		a := make([]uint64, 2, 4)
		a[0], a[1] = g.at(0), e
		g.p, g.n, g.c, g.one = &a[0], 2, 4, false
		return
	}
	a := append(g.arr(), e)
	g.p, g.n, g.c = &a[0], uint32(len(a)), uint32(cap(a))
}

// pop drops the last entry, going back to the single-member form at one
// and giving memory back once a big group has mostly emptied (amortised
// O(1): at most once per halving).
func (g *group) pop() {
	switch n := g.size(); {
	case n == 1:
		g.p, g.n, g.c, g.one = nil, 0, 0, false
	case n == 2:
		e := g.arr()[0]
		g.p, g.one = nil, true
		g.set(0, e)
	default:
		a := g.arr()
		a[n-1] = 0
		a = a[:n-1]
		if cap(a) > 64 && len(a) < cap(a)/4 {
			a = append(make([]uint64, 0, 2*len(a)), a...)
		}
		g.p, g.n, g.c = &a[0], uint32(len(a)), uint32(cap(a))
	}
}
