package shard

import (
	"runtime"
	"time"

	"github.com/starling-ws/starling/poller"
)

// fanout writes a run of publishes of one group (up to maxGroup, in offset
// order) to the group's members, holding no lock: the member array is this
// worker's own. Each member gets its class's frames of the run in one
// Write or Writev. The per-recipient loop is plain code on *poller.Conn: no
// interface, closure, map or allocation (pending members, rare, take the
// slow path).
//
// Between chunks of ctlEvery recipients the control inbox is served; joins
// then append pending entries (which this run skips: their ack's offset is
// newer) and leaves tombstone entries of this group (swept after the run),
// so positions below len(g.ents) never move under the loop.
func (h *Hub) fanout(s *shard, items []item) {
	g := items[0].g
	s.cur = g
	var ready uint8 // classes whose frames for this run are in s.bufs
	var ok int64    // recipients written
	pend := false   // met a pending member
	for k := 0; k < g.size(); k++ {
		if k&ctlEvery == ctlEvery {
			if s.ctlN.Load() != 0 {
				h.control(s)
			}
			// Let a runnable event loop have this P: with every core busy
			// writing a fan-out, a loop back from epoll_wait would
			// otherwise wait for the scheduler's 10 ms preemption.
			runtime.Gosched()
		}
		e := g.at(k)
		if e&(entPend|entDead) != 0 {
			if e&entDead == 0 {
				pend = true
				if h.pending(s, g, k, items) {
					ok++
				}
			}
			continue
		}
		cls := entCls(e)
		if ready&(1<<cls) == 0 {
			h.prepare(s, items, cls)
			ready |= 1 << cls
		}
		bs := s.bufs[cls]
		c := s.slots[entSlot(e)].conn
		var err error
		switch len(bs) {
		case 0:
			continue // no frame for this class (its build failed)
		case 1:
			err = c.Write(bs[0])
		default:
			err = c.Writev(bs)
		}
		if err == nil {
			ok++
			s.deliveries.Add(uint64(len(bs)))
		} else if err == poller.ErrOverflow {
			s.slow = append(s.slow, c)
		}
	}
	s.cur = nil
	if s.dirty {
		s.dirty = false
		s.sweep(g)
	}
	for c := range s.bufs {
		clear(s.bufs[c])
		s.bufs[c] = s.bufs[c][:0]
	}
	done := s.done[:0]
	for _, it := range items {
		t := it.t
		s.qbytes.Add(-t.size)
		t.recipients.Add(ok)
		if t.pending.Add(-1) == 0 {
			done = append(done, t)
		}
	}
	if g.q.Add(-int32(len(items))) == 0 && (pend || len(s.pend) > 0) {
		h.activate(s, g)
	}
	h.reportSlow(s)
	if cb := h.cfg.OnFanout; cb != nil && len(done) > 0 {
		now := h.clock.mono()
		for _, t := range done {
			cb(time.Duration(now-t.start), int(t.recipients.Load()))
		}
	}
	clear(done)
	s.done = done[:0]
}

// prepare collects the run's frames for class cls into s.bufs[cls],
// building each on first use.
func (h *Hub) prepare(s *shard, items []item, cls Class) {
	bs := s.bufs[cls][:0]
	for _, it := range items {
		if f := h.frame(it.t, cls); len(f) > 0 {
			bs = append(bs, f)
		}
	}
	s.bufs[cls] = bs
}

// pending writes to a pending member at position k the run's publications
// newer than its ack, and makes it a plain member once it has had one.
func (h *Hub) pending(s *shard, g *group, k int, items []item) bool {
	e := g.at(k)
	i := entSlot(e)
	key := pendKey(g.gid, i)
	after := s.pend[key]
	c := s.slots[i].conn
	cls := entCls(e)
	wrote, failed := false, false
	for _, it := range items {
		if it.t.off <= after || failed {
			continue
		}
		f := h.frame(it.t, cls)
		if len(f) == 0 {
			continue
		}
		switch err := c.Write(f); err {
		case nil:
			wrote = true
			s.deliveries.Add(1)
		case poller.ErrOverflow:
			s.slow = append(s.slow, c)
			failed = true
		default:
			failed = true
		}
	}
	if wrote || items[len(items)-1].t.off > after {
		g.set(k, e&^entPend)
		delete(s.pend, key)
		s.npend.Add(-1)
	}
	return wrote
}
