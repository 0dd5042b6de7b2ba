package shard

// Stats is folded from the shards at read time.
type Stats struct {
	Conns         int64
	Channels      int64
	Subscriptions int64
	Publishes     uint64 // publishes that had subscribers
	Deliveries    uint64 // frames written successfully (one per recipient per publish)
	Slow          uint64 // writes refused with poller.ErrOverflow
	PerShardConns []int64
}

// Stats reads the counters. Each counter is owned by one shard or stripe
// and written under its lock (or by its worker, once per pass), so the hot
// paths share no counter; the sum is not a single atomic snapshot.
func (h *Hub) Stats() Stats {
	st := Stats{PerShardConns: make([]int64, len(h.shards))}
	for i, s := range h.shards {
		n := s.nconns.Load()
		st.PerShardConns[i] = n
		st.Conns += n
		st.Subscriptions += s.nsubs.Load()
		st.Deliveries += s.deliveries.Load()
		st.Slow += s.slowN.Load()
	}
	for i := range h.stripes {
		st.Channels += h.stripes[i].nchan.Load()
		st.Publishes += h.stripes[i].publishes.Load()
	}
	return st
}
