package shard

import (
	"time"

	"github.com/starling-ws/starling/poller"
)

// Each shard has one worker goroutine. It serves its control inbox first
// (joins, leaves, adds, removes, wheel arms and ticks), then the publishes
// queued so far, in order, going back to the control inbox between
// publishes and every ctlEvery recipients of a long fan-out. A fan-out of
// 10,000 recipients is about 50 ms of write(2); a sub's ack or a heartbeat
// waits at most one chunk of it, not the whole burst behind it.

const (
	// ctlEvery: recipients written between two looks at the control inbox
	// (a power of two minus one, used as a mask): 128 writes are about
	// 0.6 ms here.
	ctlEvery = 127
	// maxGroup bounds the consecutive publishes of one group merged into
	// one writev per recipient (poller.Conn.Writev sends up to 16 slices per
	// writev(2)).
	maxGroup = 16
	// spareKeep: an inbox slice grown past this by a burst is dropped once
	// served, so the burst's capacity is given back.
	spareKeep = 4096
)

func (h *Hub) work(s *shard) {
	defer h.wg.Done()
	for {
		select {
		case <-s.wake:
			for h.serve(s) {
			}
		case <-h.quit:
			for h.serve(s) {
			}
			return
		}
	}
}

// serve runs one batch: the control inbox, then the publishes queued so far.
func (h *Hub) serve(s *shard) bool {
	did := h.control(s)
	s.imu.Lock()
	batch := s.pubs
	s.pubs = s.pubSpare
	s.imu.Unlock()
	s.pubSpare = nil
	if len(batch) == 0 {
		s.pubSpare = batch
		return did
	}
	for i := 0; i < len(batch); {
		if s.ctlN.Load() != 0 {
			h.control(s)
		}
		it := batch[i]
		if it.wg != nil {
			it.wg.Done()
			i++
			continue
		}
		j := i + 1
		for j < len(batch) && batch[j].g == it.g && batch[j].wg == nil && j-i < maxGroup {
			j++
		}
		h.fanout(s, batch[i:j])
		i = j
	}
	clear(batch)
	if cap(batch) > spareKeep {
		batch = nil
	}
	s.pubSpare = batch[:0]
	return true
}

// control serves every control request posted so far.
func (h *Hub) control(s *shard) bool {
	s.imu.Lock()
	batch := s.ctl
	s.ctl = s.ctlSpare
	s.ctlN.Store(0)
	s.imu.Unlock()
	s.ctlSpare = nil
	if len(batch) == 0 {
		s.ctlSpare = batch
		return false
	}
	for i := range batch {
		h.apply(s, &batch[i])
	}
	clear(batch)
	if cap(batch) > spareKeep {
		batch = nil
	}
	s.ctlSpare = batch[:0]
	return true
}

func (h *Hub) apply(s *shard, r *req) {
	defer func() {
		if v := recover(); v != nil {
			h.contain("shard control request", v)
		}
	}()
	switch r.kind {
	case rAdd:
		i := s.alloc()
		r.l.slot = i
		if i < 0 {
			return // 2^24 connections on one shard: never armed, never fanned out to
		}
		s.slots[i].conn = r.c
		s.wheel.arm(s.slots, i, r.due)
		s.nconns.Add(1)
	case rArm:
		if i := r.l.slot; i >= 0 {
			s.wheel.arm(s.slots, i, r.due)
		}
	case rRemove:
		h.remove(s, r.l)
	case rJoin:
		h.join(s, r)
	case rLeave:
		h.leave(s, r)
	case rTick:
		h.advance(s, r.due, r.sched)
	case rSnapshot:
		var out []*poller.Conn
		for k := range s.slots {
			if c := s.slots[k].conn; c != nil {
				out = append(out, c)
			}
		}
		r.out <- out
	}
}

// join makes the connection a member of r.g after writing its ack and any
// replay, so that the ack, the replay and live publications reach it in
// that order. A member that joins while publishes older than its ack's
// offset are still queued for the group starts pending: it receives only
// publications with an offset above r.off, and becomes a plain member with
// the first one (or once the group's queue is empty).
func (h *Hub) join(s *shard, r *req) {
	i, g := r.l.slot, r.g
	if i < 0 {
		h.undoJoin(s, g, r.l) // closed before its join was served
		return
	}
	c := s.slots[i].conn
	if g.gid != noGid && s.findSub(i, g.gid) >= 0 {
		// Already a member: acknowledged, nothing else changes.
		h.undoJoin(s, g, r.l)
		h.send(s, c, r.ack)
		return
	}
	if len(s.slots[i].subs) >= MaxSubscriptions {
		h.undoJoin(s, g, r.l)
		return
	}
	if !h.send(s, c, r.ack) {
		h.undoJoin(s, g, r.l)
		return
	}
	if cb := h.cfg.OnJoinWait; cb != nil {
		cb(time.Duration(h.clock.mono() - r.sched))
	}
	if len(r.replay) > 0 && !h.replay(s, c, r.replay, r.cls) {
		h.undoJoin(s, g, r.l)
		return
	}
	if g.gid == noGid {
		s.assignGid(g)
	}
	pos := g.size()
	k := s.addSub(i, sub{gid: g.gid, pos: uint32(pos)})
	e := mkEntry(i, k, r.cls)
	if g.q.Load() > 0 {
		e |= entPend
		s.pend[pendKey(g.gid, i)] = r.off
		s.npend.Add(1)
	}
	g.push(e)
	s.nsubs.Add(1)
}

// send writes a worker-built reply (an ack). A false return means the
// connection is gone or was found slow (reported to OnSlow).
func (h *Hub) send(s *shard, c *poller.Conn, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	switch err := c.Write(b); err {
	case nil:
		return true
	case poller.ErrOverflow:
		s.slow = append(s.slow, c)
		h.reportSlow(s)
	}
	return false
}

// replay writes retained publications, in order, up to 16 per writev.
func (h *Hub) replay(s *shard, c *poller.Conn, ts []*task, cls Class) bool {
	// Its own scratch: a join is served between chunks of a fan-out run,
	// whose frames are in s.bufs until the run ends.
	bufs := s.rbufs[:0]
	flush := func() bool {
		if len(bufs) == 0 {
			return true
		}
		err := c.Writev(bufs)
		clear(bufs)
		bufs = bufs[:0]
		if err == poller.ErrOverflow {
			s.slow = append(s.slow, c)
			h.reportSlow(s)
		}
		return err == nil
	}
	for _, t := range ts {
		if f := h.frame(t, cls); len(f) > 0 {
			bufs = append(bufs, f)
			s.deliveries.Add(1)
		}
		if len(bufs) == maxGroup && !flush() {
			return false
		}
	}
	ok := flush()
	s.rbufs = bufs
	return ok
}

// undoJoin gives back what Subscribe counted for a join that does not
// happen (duplicate, closed connection, failed ack).
func (h *Hub) undoJoin(s *shard, g *group, l *Link) {
	l.subs.Add(-1)
	h.leaveCounts(s, g)
}

// leave ends the connection's membership of r.g (if any), then writes the
// unsub's ack: no publication of the channel follows it.
func (h *Hub) leave(s *shard, r *req) {
	i := r.l.slot
	if i < 0 {
		return
	}
	if r.g.gid != noGid {
		if k := s.findSub(i, r.g.gid); k >= 0 {
			h.dropSub(s, i, k, r.l)
		}
	}
	h.send(s, s.slots[i].conn, r.ack)
}

// remove drops a closing connection from its shard, channels and wheel.
func (h *Hub) remove(s *shard, l *Link) {
	i := l.slot
	if i < 0 {
		return
	}
	for n := len(s.slots[i].subs); n > 0; n = len(s.slots[i].subs) {
		h.dropSub(s, i, n-1, l)
	}
	delete(s.heavy, i)
	s.wheel.arm(s.slots, i, 0)
	s.release(i)
	l.slot = -1
	s.nconns.Add(-1)
}

// dropSub removes slot i's k-th subscription from both sides and from the
// channel's counts.
func (h *Hub) dropSub(s *shard, i int32, k int, l *Link) {
	sb := s.slots[i].subs[k]
	g := s.groups[sb.gid]
	if g.at(int(sb.pos))&entPend != 0 {
		delete(s.pend, pendKey(g.gid, i))
		s.npend.Add(-1)
	}
	s.cutEntry(g, sb.pos)
	s.cutSub(i, k)
	s.nsubs.Add(-1)
	l.subs.Add(-1)
	h.leaveCounts(s, g)
}

// leaveCounts takes one member off g's and its channel's counts under the
// stripe lock; the last member of a non-home group unlinks it, the last of
// a channel (with nothing retained) takes the channel with it. (The group's
// gid is the worker's business: freed when its entries run out.)
func (h *Hub) leaveCounts(_ *shard, g *group) {
	c := g.channel()
	st := &h.stripes[c.stripe]
	st.mu.Lock()
	g.cnt--
	if g.cnt == 0 {
		c.unlink(g)
		if !c.subscribed() {
			if h.hist.on {
				// Kept -history-ttl even with nothing retained, so a
				// subscriber resuming from offset 0 keeps its epoch.
				h.hist.idle(st, c, h.clock.Now())
			} else {
				h.drop(st, c)
			}
		}
	}
	st.mu.Unlock()
}

// activate turns g's pending members into plain ones once nothing older
// than their join can still be queued for g.
func (h *Hub) activate(s *shard, g *group) {
	for k, n := 0, g.size(); k < n; k++ {
		if e := g.at(k); e&entPend != 0 && e&entDead == 0 {
			g.set(k, e&^entPend)
			delete(s.pend, pendKey(g.gid, entSlot(e)))
			s.npend.Add(-1)
		}
	}
}

// advance moves s's wheel to tick t, one tick at a time (so OnTimer gets
// the tick each entry was due at) unless it is more than a turn behind,
// then in one sweep. Due entries are collected and disarmed, then reported.
func (h *Hub) advance(s *shard, t uint32, sched int64) {
	w := &s.wheel
	for w.now < t {
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
		if cb := h.cfg.OnTimer; cb != nil {
			// The callbacks only post requests, so the slots stay put.
			for _, i := range fired {
				if next := h.onTimer(cb, s.slots[i].conn, k); next != 0 {
					w.arm(s.slots, i, next)
				}
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

// onTimer runs one timer callback, containing a panic (the entry then
// stays disarmed).
func (h *Hub) onTimer(cb func(*poller.Conn, uint32) uint32, c *poller.Conn, k uint32) (next uint32) {
	defer func() {
		if v := recover(); v != nil {
			h.contain("OnTimer", v)
			next = 0
		}
	}()
	return cb(c, k)
}

// reportSlow hands the collected slow recipients to OnSlow.
func (h *Hub) reportSlow(s *shard) {
	if len(s.slow) == 0 {
		return
	}
	s.slowN.Add(uint64(len(s.slow)))
	if cb := h.cfg.OnSlow; cb != nil {
		for _, c := range s.slow {
			cb(c)
		}
	}
	clear(s.slow)
	s.slow = s.slow[:0]
}
