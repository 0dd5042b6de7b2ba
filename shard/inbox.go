package shard

import (
	"sync"
	"sync/atomic"

	"github.com/starling-ws/starling/poller"
)

// Link is a connection's handle on the hub. The layer above embeds one in
// its per-connection record (no allocation) and passes it to every call.
// Its fields belong to the hub: shard is set by Add before the first
// request is posted, slot by the worker.
type Link struct {
	slot  int32 // worker-owned: index in the shard's slot table, -1 when none
	shard uint8
	// subs counts subscriptions requested and not yet left; the caller
	// reserves one before Subscribe (Reserve) and the worker gives it back
	// on a duplicate, a leave or the close.
	subs atomic.Int32
}

// Subs is the connection's subscriptions (joins requested and not left).
func (l *Link) Subs() int { return int(l.subs.Load()) }

// reqKind is a control request's kind.
type reqKind uint8

const (
	rAdd reqKind = iota
	rArm
	rRemove
	rJoin
	rLeave
	rTick
	rSnapshot
)

// req is one control request for a shard's worker. It is transient: the
// inbox holds it until the worker's next control pass.
type req struct {
	kind   reqKind
	cls    Class
	l      *Link
	c      *poller.Conn
	due    uint32              // rArm, rAdd: wheel tick; rTick: the tick
	g      *group              // rJoin, rLeave
	off    uint64              // rJoin: the offset the member's stream starts after (the ack's)
	ack    []byte              // rJoin, rLeave: written by the worker, after the change
	replay []*task             // rJoin: publications to write after the ack
	sched  int64               // rTick: when it was due; rJoin: when it was posted (clock-relative ns)
	out    chan []*poller.Conn // rSnapshot
}

// item is one entry of a shard's publish queue: a publish for one group of
// members on this shard, or a barrier (wg set).
type item struct {
	t  *task
	g  *group
	wg *sync.WaitGroup
}

// push posts a control request. The worker serves control requests before
// the next publish and between chunks of a long fan-out.
func (s *shard) push(r req) {
	s.imu.Lock()
	s.ctl = append(s.ctl, r)
	s.ctlN.Store(int32(len(s.ctl)))
	s.imu.Unlock()
	s.signal()
}

func (s *shard) pushPub(it item) {
	s.imu.Lock()
	s.pubs = append(s.pubs, it)
	s.imu.Unlock()
	s.signal()
}

func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Add registers c with its wheel entry armed for tick due (0: not armed).
// l must not be in use; it stays linked until Remove.
func (h *Hub) Add(l *Link, c *poller.Conn, due uint32) {
	l.slot = -1
	l.shard = uint8(h.next.Add(1) & h.mask)
	h.shards[l.shard].push(req{kind: rAdd, l: l, c: c, due: due})
}

// Arm (re)schedules l's single wheel entry for tick due (0 disarms). A due
// tick already past fires on the shard's next tick.
func (h *Hub) Arm(l *Link, due uint32) {
	h.shards[l.shard].push(req{kind: rArm, l: l, due: due})
}

// Remove drops the connection from its shard, its channels and the wheel.
// No fan-out writes to it once the worker has served the request; writes
// to a closed poller.Conn are refused anyway.
func (h *Hub) Remove(l *Link) {
	h.shards[l.shard].push(req{kind: rRemove, l: l})
}

// Conns returns every connection registered now (drain; not a hot path).
func (h *Hub) Conns() []*poller.Conn {
	var all []*poller.Conn
	for _, s := range h.shards {
		out := make(chan []*poller.Conn, 1)
		// Posted under life's read lock while running: Stop cannot pass
		// its lock until then, and its workers' final drain serves it.
		h.life.RLock()
		running := h.started && !h.stopped.Load()
		if running {
			s.push(req{kind: rSnapshot, out: out})
		}
		h.life.RUnlock()
		if running {
			all = append(all, <-out...)
		}
	}
	return all
}

// postTick posts clock tick t to every shard's control inbox.
func (h *Hub) postTick(t uint32, sched int64) {
	for _, s := range h.shards {
		s.push(req{kind: rTick, due: t, sched: sched})
	}
}
