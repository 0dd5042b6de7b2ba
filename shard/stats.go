package shard

// Stats is folded from the shards and stripes at read time.
type Stats struct {
	Conns         int64
	Channels      int64
	Subscriptions int64
	Pending       int64  // members joined while older publishes were queued (transient)
	Publishes     uint64 // publishes that took an offset
	Deliveries    uint64 // frames written successfully (one per recipient per publish)
	Slow          uint64 // writes refused with poller.ErrOverflow
	QueuedBytes   int64  // payload bytes queued for the workers, all shards
	PerShardConns []int64

	HistoryBytes    int64  // charged bytes of retained publications
	HistoryMessages int64  // retained publications
	HistoryChannels int64  // channels with retained publications
	HistoryEvicted  uint64 // publications dropped to stay within History.Memory
	HistoryExpired  uint64 // publications dropped for age
	IdleEvicted     uint64 // channels without subscribers ended early to make room at MaxChannels
}

// Stats reads the counters. Each counter is owned by one shard or stripe,
// so the hot paths share none; the sum is not a single atomic snapshot.
func (h *Hub) Stats() Stats {
	st := Stats{PerShardConns: make([]int64, len(h.shards))}
	for i, s := range h.shards {
		n := s.nconns.Load()
		st.PerShardConns[i] = n
		st.Conns += n
		st.Subscriptions += s.nsubs.Load()
		st.Pending += s.npend.Load()
		st.Deliveries += s.deliveries.Load()
		st.Slow += s.slowN.Load()
		st.QueuedBytes += s.qbytes.Load()
	}
	for i := range h.stripes {
		st.Channels += h.stripes[i].nchan.Load()
		st.Publishes += h.stripes[i].publishes.Load()
	}
	g := &h.hist
	st.HistoryBytes, st.HistoryMessages, st.HistoryChannels = g.bytes.Load(), g.msgs.Load(), g.chans.Load()
	st.HistoryEvicted, st.HistoryExpired, st.IdleEvicted = g.evicted.Load(), g.expired.Load(), g.idleEvicted.Load()
	return st
}
