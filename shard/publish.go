package shard

import "sync/atomic"

// Frames are the bytes of one publish, one per encoding class (0 binary
// MessagePack, 1 text JSON). Immutable once returned by Builder.Build.
type Frames [2][]byte

// Builder builds a publish's frames once its offset is known. need[e] says
// whether any subscriber uses class e (build only those). It is called with
// the channel's stripe lock held and must not call back into the Hub.
type Builder interface {
	Build(off uint64, need [2]bool) Frames
}

// task is one publish on its way through the shards' queues: the only
// allocation Publish makes (besides what the Builder makes).
type task struct {
	frames     Frames
	start      int64 // clock-relative monotonic ns, set only when OnFanout is
	pending    atomic.Int32
	recipients atomic.Int64
}

// Publish takes ch's next offset (offsets start at 1 and grow by one per
// publish while the channel exists) and, if ch has subscribers, builds the
// frames once and queues them to every shard holding subscribers. Per
// channel, every recipient sees publishes in offset order.
//
// A channel without subscribers does not exist: Publish returns (0, 0)
// and calls nothing. recipients is the subscriber count at publish time.
//
// The stripe lock is held across offset, Build and the enqueue on every
// shard, so the per-shard queues receive one channel's publishes in offset
// order; each worker drains its queue FIFO.
func (h *Hub) Publish(ch []byte, b Builder) (off uint64, recipients int) {
	st := &h.stripes[h.stripeOf(ch)]
	st.mu.Lock()
	meta := st.m[string(ch)]
	if meta == nil || h.stopped.Load() {
		st.mu.Unlock()
		return 0, 0
	}
	meta.off++
	off = meta.off
	t := &task{frames: b.Build(off, [2]bool{meta.subs[0] > 0, meta.subs[1] > 0})}
	n := int32(0)
	for _, m := range meta.mem {
		if m != nil {
			n++
		}
	}
	t.pending.Store(n)
	// Counted before any shard can write it, so a subscriber that has the
	// message never sees a counter that does not yet.
	st.publishes.Add(1)
	if h.cfg.OnFanout != nil {
		t.start = h.clock.mono()
	}
	for k, m := range meta.mem {
		if m != nil {
			h.shards[k].push(item{kind: kindPub, t: t, m: m})
		}
	}
	recipients = int(meta.subs[0] + meta.subs[1])
	st.mu.Unlock()
	return off, recipients
}
