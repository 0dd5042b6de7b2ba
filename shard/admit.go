package shard

// The fan-out queue bound (Config.QueueBytes) for publishes whose offset
// is taken elsewhere. Publish applies it itself; a cluster node sends its
// publishes to a bus first and delivers them later with PublishAt, which
// cannot refuse (the bus has already sequenced them). So the node asks
// Admit before it hands a publish to the bus (err 429 like a local
// publish), and asks again before each PublishAt, waiting while the answer
// is ErrBusy: the wait holds the bus's delivery back (its consumer buffers,
// and what it drops it fetches again), so the queue stays within its bound
// and nothing is dropped on the way to the subscribers.

// Admit reports whether a publish of size payload bytes on ch would fit
// every fan-out queue it must reach now: nil, ErrBusy, ErrStopped or
// ErrName. It reserves nothing; a channel without members here always fits.
func (h *Hub) Admit(ch []byte, size int) error {
	if !validName(ch) {
		return ErrName
	}
	st, c, _ := h.lockChannel(ch)
	defer st.mu.Unlock()
	switch {
	case h.stopped.Load():
		return ErrStopped
	case c != nil && h.busy(c, int64(size)):
		return ErrBusy
	}
	return nil
}

// busy reports whether a shard holding members of c has more than
// QueueBytes queued with size added. A publish larger than the whole bound
// still goes through an empty queue, alone: its own size is not a backlog.
// Caller holds c's stripe lock.
func (h *Hub) busy(c *channel, size int64) bool {
	for g := &c.home; g != nil; g = g.next {
		if g.cnt > 0 {
			if q := h.shards[g.shard].qbytes.Load(); q > 0 && q+size > h.cfg.QueueBytes {
				return true
			}
		}
	}
	return false
}

// groupsWithMembers counts c's groups (one per shard) with members: the
// queues a publish goes to. Caller holds c's stripe lock.
func (c *channel) groupsWithMembers() int32 {
	n := int32(0)
	for g := &c.home; g != nil; g = g.next {
		if g.cnt > 0 {
			n++
		}
	}
	return n
}
