package shard

import (
	"fmt"
	"sort"
	"sync/atomic"
)

// HistoryConfig keeps recent publications per channel so that a client
// that reconnects can resume from the last offset it saw. The zero value
// keeps none.
type HistoryConfig struct {
	Size      int    // publications kept per channel; 0: history off
	TTL       uint32 // seconds a publication is kept, and a channel outlives its last subscriber
	Memory    int64  // bytes of retained publications, all channels together
	MaxReplay int    // publications one sub may replay, own history and bus fetch together; 0 means Size
}

func (c *HistoryConfig) validate() error {
	if c.Size == 0 {
		return nil
	}
	switch {
	case c.Size < 0 || c.Size > 1<<20:
		return fmt.Errorf("shard: History.Size %d: want 0..%d", c.Size, 1<<20)
	case c.TTL == 0:
		return fmt.Errorf("shard: History.TTL must be > 0 with History.Size %d", c.Size)
	case c.Memory <= 0:
		return fmt.Errorf("shard: History.Memory %d: want > 0", c.Memory)
	case c.MaxReplay < 0 || c.MaxReplay > 1<<20:
		return fmt.Errorf("shard: History.MaxReplay %d: want 0..%d", c.MaxReplay, 1<<20)
	}
	if c.MaxReplay == 0 {
		c.MaxReplay = c.Size
	}
	return nil
}

// TaskOverhead is what one retained publication costs beyond its payload
// and frames: the task record, the payload's own record and the ring slot
// (measured by TestHistoryMemory).
const TaskOverhead = 256

// histGlobal is the history accounting shared by every stripe.
type histGlobal struct {
	on      bool
	cfg     HistoryConfig
	bytes   atomic.Int64  // charged bytes of every retained task
	msgs    atomic.Int64  // retained tasks
	chans   atomic.Int64  // channels with a history
	evicted atomic.Uint64 // publications dropped to stay within Memory
	expired atomic.Uint64 // publications dropped for age (TTL)
	// idleEvicted counts channels without subscribers ended before their
	// TTL to make room at MaxChannels (evictIdle).
	idleEvicted atomic.Uint64
}

func (g *histGlobal) init(c HistoryConfig) { g.cfg, g.on = c, c.Size > 0 }

// history is one channel's retained publications: a ring that grows up to
// Size, oldest at head. It sits in its stripe's LRU list (least recently
// published or left first), which is where eviction and expiry look.
type history struct {
	ring       []*task
	head, n    int
	last       uint32 // tick of the last publish, or of the last subscriber leaving
	ch         *channel
	prev, next *history
}

type histList struct{ head, tail *history }

func (l *histList) push(hs *history) {
	hs.prev, hs.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = hs
	} else {
		l.head = hs
	}
	l.tail = hs
}

func (l *histList) remove(hs *history) {
	if hs.prev != nil {
		hs.prev.next = hs.next
	} else {
		l.head = hs.next
	}
	if hs.next != nil {
		hs.next.prev = hs.prev
	} else {
		l.tail = hs.prev
	}
	hs.prev, hs.next = nil, nil
}

func (l *histList) touch(hs *history) {
	if l.tail != hs {
		l.remove(hs)
		l.push(hs)
	}
}

func (hs *history) at(i int) *task { return hs.ring[(hs.head+i)%len(hs.ring)] }

// keep retains t in c's history (caller holds st.mu), dropping what is too
// old or beyond Size, then keeps all channels within Memory.
func (g *histGlobal) keep(st *stripe, c *channel, t *task, now uint32) {
	hs := c.hist
	if hs == nil {
		hs = &history{ch: c}
		c.hist = hs
		st.lru.push(hs)
		g.chans.Add(1)
	} else {
		st.lru.touch(hs)
	}
	hs.last = now
	g.expire(hs, now)
	if hs.n == g.cfg.Size {
		g.dropOldest(hs)
	}
	switch {
	case hs.n < len(hs.ring):
		hs.ring[(hs.head+hs.n)%len(hs.ring)] = t
	case hs.head == 0: // full but below Size: grow in place
		hs.ring = append(hs.ring, t)
	default: // full, wrapped, below Size: grow in order
		nr := make([]*task, hs.n, min(2*hs.n, g.cfg.Size))
		for i := range nr {
			nr[i] = hs.at(i)
		}
		hs.ring, hs.head = append(nr, t), 0
	}
	hs.n++
	t.at, t.kept = now, true
	t.mu.Lock()
	t.charged = TaskOverhead + t.size + t.frameBytes()
	t.mu.Unlock()
	g.bytes.Add(t.charged)
	g.msgs.Add(1)
	for g.bytes.Load() > g.cfg.Memory && g.evictLocal(st, hs) {
	}
}

// dropOldest forgets hs's oldest publication.
func (g *histGlobal) dropOldest(hs *history) {
	t := hs.ring[hs.head]
	hs.ring[hs.head] = nil
	hs.head = (hs.head + 1) % len(hs.ring)
	hs.n--
	t.mu.Lock()
	g.bytes.Add(-t.charged)
	t.charged, t.kept = 0, false
	t.mu.Unlock()
	g.msgs.Add(-1)
}

// expire drops publications older than TTL from the front of hs.
func (g *histGlobal) expire(hs *history, now uint32) {
	for hs.n > 0 && hs.ring[hs.head].at+g.cfg.TTL <= now {
		g.dropOldest(hs)
		g.expired.Add(1)
	}
	if hs.n == 0 {
		hs.head = 0
	}
}

// evictLocal drops the oldest publication of the least recently published
// channel in st, never the only one of keepHs (just retained). It reports
// whether it dropped something.
func (g *histGlobal) evictLocal(st *stripe, keepHs *history) bool {
	for hs := st.lru.head; hs != nil; hs = hs.next {
		if hs == keepHs && hs.n <= 1 {
			continue
		}
		if hs.n > 0 {
			g.dropOldest(hs)
			g.evicted.Add(1)
			return true
		}
	}
	return false
}

// recover reports whether a subscriber that has seen since can be brought
// up to date, and the publications to replay (oldest first). Caller holds
// the stripe lock.
func (g *histGlobal) recover(c *channel, since Position, now uint32) (bool, []*task) {
	switch {
	case since.Epoch != c.epoch || since.Off > c.off:
		return false, nil
	case since.Off == c.off:
		return true, nil
	}
	hs := c.hist
	if hs == nil {
		return false, nil
	}
	g.expire(hs, now)
	if hs.n == 0 {
		return false, nil
	}
	// Offsets increase along the ring but need not be contiguous (a
	// cluster's come from its bus): find the first kept publication after
	// since, and check that nothing was lost between since and it.
	i := sort.Search(hs.n, func(k int) bool { return hs.at(k).off > since.Off })
	if i == 0 && hs.at(0).prev != since.Off {
		return false, nil // since is older than what is kept
	}
	missing := hs.n - i
	if missing > g.cfg.MaxReplay {
		return false, nil
	}
	out := make([]*task, missing)
	prev := since.Off
	for k := range out {
		t := hs.at(i + k)
		if t.prev != prev {
			return false, nil // a gap inside what is kept (a bus skipped)
		}
		out[k], prev = t, t.off
	}
	return true, out
}

// idle notes that c's last subscriber left: its history (and so the
// channel) lives TTL from now. Caller holds st.mu.
func (g *histGlobal) idle(st *stripe, c *channel, now uint32) {
	if c.hist == nil {
		c.hist = &history{ch: c}
		st.lru.push(c.hist)
		g.chans.Add(1)
	}
	c.hist.last = now
	st.lru.touch(c.hist)
}

// release forgets c's whole history. Caller holds st.mu.
func (g *histGlobal) release(st *stripe, c *channel) {
	hs := c.hist
	for hs.n > 0 {
		g.dropOldest(hs)
	}
	st.lru.remove(hs)
	c.hist = nil
	g.chans.Add(-1)
}

// sweep runs once a tick for each stripe (Clock.advance): it drops what
// TTL has expired, ends channels that have had no subscriber for TTL, and
// brings all channels back within Memory when publishes in other stripes
// passed it (keep only trims its own stripe, holding no other lock).
func (h *Hub) sweepHistory(now uint32) {
	g := &h.hist
	if !g.on {
		return
	}
	for i := range h.stripes {
		st := &h.stripes[i]
		st.mu.Lock()
		for hs := st.lru.head; hs != nil; {
			next := hs.next
			if hs.last+g.cfg.TTL > now {
				break // the rest are more recent
			}
			c := hs.ch
			g.expire(hs, now)
			if !c.subscribed() {
				h.drop(st, c) // idle for TTL: the channel and its offsets end
			} else if hs.n == 0 {
				g.release(st, c)
			}
			hs = next
		}
		st.mu.Unlock()
	}
	for g.bytes.Load() > g.cfg.Memory {
		// The stripe whose least recent history is oldest gives one up.
		var best *stripe
		var bestAt uint32
		for i := range h.stripes {
			st := &h.stripes[i]
			st.mu.Lock()
			if hd := st.lru.head; hd != nil && (best == nil || hd.last < bestAt) {
				best, bestAt = st, hd.last
			}
			st.mu.Unlock()
		}
		if best == nil {
			return
		}
		best.mu.Lock()
		dropped := g.evictLocal(best, nil)
		if hd := best.lru.head; hd != nil && hd.n == 0 {
			if !hd.ch.subscribed() {
				h.drop(best, hd.ch)
			} else {
				g.release(best, hd.ch)
			}
		}
		best.mu.Unlock()
		if !dropped {
			return
		}
	}
}
