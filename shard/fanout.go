package shard

import (
	"sync"
	"time"

	"github.com/starling-ws/starling/poller"
)

// Each shard has one worker goroutine draining its queue FIFO: fan-outs
// (publish tasks), clock ticks and Flush barriers. Wheel work and writes for
// a shard's connections therefore run on that shard's worker, spread over
// the cores, and only that worker writes fan-out frames to them.
//
// Lock order: shard.mu (read) -> poller.Conn.wmu during writes; callbacks
// run after the pass with no lock held.

type itemKind uint8

const (
	kindPub itemKind = iota
	kindTick
	kindBarrier
)

type item struct {
	t     *task
	m     *members // kindPub: the channel's members in this shard
	wg    *sync.WaitGroup
	sched int64 // kindTick: when the tick was due (clock-relative ns)
	tick  uint32
	kind  itemKind
}

const (
	// maxRun bounds the publishes written under one read lock, so
	// Subscribe/Arm on a busy shard wait at most one run.
	maxRun = 256
	// maxGroup bounds the consecutive same-channel publishes merged into
	// one writev per recipient (poller.Conn.Writev sends up to 16 slices per
	// writev(2)).
	maxGroup = 16
)

func (s *shard) push(it item) {
	s.qmu.Lock()
	s.q = append(s.q, it)
	s.qmu.Unlock()
	s.signal()
}

func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) postTick(t uint32, sched int64) {
	for _, s := range h.shards {
		s.push(item{kind: kindTick, tick: t, sched: sched})
	}
}

func (h *Hub) work(s *shard) {
	defer h.wg.Done()
	for {
		select {
		case <-s.wake:
			for h.drain(s) {
			}
		case <-h.quit:
			for h.drain(s) {
			}
			return
		}
	}
}

// drain runs one batch: everything queued so far. The queue and the spare
// slice swap, so steady state allocates nothing.
func (h *Hub) drain(s *shard) bool {
	s.qmu.Lock()
	batch := s.q
	s.q = s.spare
	s.qmu.Unlock()
	s.spare = nil
	if len(batch) == 0 {
		s.spare = batch
		return false
	}
	for i := 0; i < len(batch); {
		switch batch[i].kind {
		case kindTick:
			h.advance(s, batch[i].tick, batch[i].sched)
			i++
		case kindBarrier:
			batch[i].wg.Done()
			i++
		default:
			j := i + 1
			for j < len(batch) && batch[j].kind == kindPub && j-i < maxRun {
				j++
			}
			h.fanout(s, batch[i:j])
			i = j
		}
	}
	clear(batch)
	s.spare = batch[:0]
	return true
}

// fanout writes a run of publishes to this shard's subscribers under one
// read lock. Consecutive publishes of one channel go to each recipient as
// one Writev of all their frames. The per-recipient loops (writeAll,
// writevAll) are plain calls on *poller.Conn: no interface, closure, map or
// allocation (the slow list is reused and only grows).
func (h *Hub) fanout(s *shard, items []item) {
	slow := s.slow[:0]
	done := s.done[:0]
	var delivered uint64
	s.mu.RLock()
	for a := 0; a < len(items); {
		m := items[a].m
		b := a + 1
		for b < len(items) && items[b].m == m && b-a < maxGroup {
			b++
		}
		group := items[a:b]
		var ok [2]int
		for e := range 2 {
			conns := m.conns[e]
			if len(conns) == 0 {
				continue
			}
			bufs := s.bufs[:0]
			for k := range group {
				if f := group[k].t.frames[e]; len(f) > 0 {
					bufs = append(bufs, f)
				}
			}
			switch len(bufs) {
			case 0:
				continue
			case 1:
				ok[e], slow = writeAll(conns, bufs[0], slow)
			default:
				ok[e], slow = writevAll(conns, bufs, slow)
			}
			delivered += uint64(ok[e] * len(bufs))
			clear(bufs)
			s.bufs = bufs[:0]
		}
		for k := range group {
			t := group[k].t
			n := 0
			for e := range 2 {
				if len(t.frames[e]) > 0 {
					n += ok[e]
				}
			}
			t.recipients.Add(int64(n))
			if t.pending.Add(-1) == 0 {
				done = append(done, t)
			}
		}
		a = b
	}
	s.mu.RUnlock()

	s.deliveries.Add(delivered)
	if len(slow) > 0 {
		s.slowN.Add(uint64(len(slow)))
		if cb := h.cfg.OnSlow; cb != nil {
			for _, c := range slow {
				cb(c)
			}
		}
	}
	if cb := h.cfg.OnFanout; cb != nil && len(done) > 0 {
		now := h.clock.mono()
		for _, t := range done {
			cb(time.Duration(now-t.start), int(t.recipients.Load()))
		}
	}
	clear(slow)
	clear(done)
	s.slow, s.done = slow[:0], done[:0]
}

func writeAll(conns []*poller.Conn, f []byte, slow []*poller.Conn) (int, []*poller.Conn) {
	n := 0
	for _, c := range conns {
		if err := c.Write(f); err == nil {
			n++
		} else if err == poller.ErrOverflow {
			slow = append(slow, c)
		}
	}
	return n, slow
}

func writevAll(conns []*poller.Conn, bufs [][]byte, slow []*poller.Conn) (int, []*poller.Conn) {
	n := 0
	for _, c := range conns {
		if err := c.Writev(bufs); err == nil {
			n++
		} else if err == poller.ErrOverflow {
			slow = append(slow, c)
		}
	}
	return n, slow
}

// advance moves s's wheel to tick t, one tick at a time (so OnTimer gets the
// tick each entry was due at) unless it is more than a turn behind, then in
// one sweep. Ticks are never lost: a late worker finds them all queued and
// processes each in order. Due entries are collected and disarmed under
// s.mu and reported after it is released.
func (h *Hub) advance(s *shard, t uint32, sched int64) {
	for {
		s.mu.Lock()
		w := &s.wheel
		if w.now >= t {
			s.mu.Unlock()
			break
		}
		var k uint32
		fired := s.fired[:0]
		if t-w.now > uint32(len(w.heads)) {
			k = t
			fired = w.expireAll(s.slots, k, fired)
		} else {
			k = w.now + 1
			fired = w.expire(s.slots, k, fired)
		}
		w.now = k
		s.mu.Unlock()
		if cb := h.cfg.OnTimer; cb != nil {
			for _, c := range fired {
				cb(c, k)
			}
		}
		clear(fired)
		if cap(fired) > 1<<16 {
			fired = nil // a mass expiry should not pin its scratch forever
		}
		s.fired = fired[:0]
	}
	if cb := h.cfg.OnTickLag; cb != nil {
		cb(time.Duration(h.clock.mono() - sched))
	}
}
