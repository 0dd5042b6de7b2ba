package cluster

import "sync/atomic"

// counters are the bus's event counts, each one atomic add on its path.
type counters struct {
	published, pubFailed, refused atomic.Uint64
	pubNanos                      atomic.Uint64
	in, inBytes                   atomic.Uint64
	delivered, dups, bad          atomic.Uint64
	gaps, fetched, lost           atomic.Uint64
	fetches                       atomic.Uint64
	reconnects, slow, epochs      atomic.Uint64
}

// Stats is a snapshot for the metrics collector (all counters are totals
// since Connect).
type Stats struct {
	Ready  bool
	Reason string
	Epoch  uint32

	Published     uint64 // publishes acked by the stream
	PublishFailed uint64 // taken, then failed (timeout, disconnect, refused by the stream)
	Refused       uint64 // refused at once (bus unavailable, too many in flight)
	PublishNanos  uint64 // sum of publish-to-ack times of Published
	Inflight      int    // publishes waiting for their ack

	InMsgs, InBytes uint64 // live feed messages (and data bytes) received
	Delivered       uint64 // publications handed to the Sink (live and fetched)
	Duplicates      uint64 // live messages already delivered (after a catch-up)
	Bad             uint64 // messages without valid headers or channel (not delivered)
	Gaps            uint64 // catch-ups run (a gap in the live feed, or a resync finding the stream ahead)
	Fetched         uint64 // publications delivered by catch-ups
	Lost            uint64 // sequences never delivered here (removed by limits first, or over MaxCatchup)
	Fetches         uint64 // Fetch calls answered
	Reconnects      uint64
	SlowConsumer    uint64 // slow consumer events on the live feed (NATS dropped messages; fetched back)
	Epochs          uint64 // epoch changes seen (stream created again)
	PendingMsgs     int    // live messages waiting for the Sink
	PendingBytes    int
	NATSIn, NATSOut uint64 // bytes on the NATS connection
}

// Stats returns a snapshot.
func (b *Bus) Stats() Stats {
	ok, why := b.Ready()
	s := Stats{
		Ready: ok, Reason: why, Epoch: b.Epoch(),
		Published: b.st.published.Load(), PublishFailed: b.st.pubFailed.Load(), Refused: b.st.refused.Load(),
		PublishNanos: b.st.pubNanos.Load(), Inflight: b.js.PublishAsyncPending(),
		InMsgs: b.st.in.Load(), InBytes: b.st.inBytes.Load(), Delivered: b.st.delivered.Load(),
		Duplicates: b.st.dups.Load(), Bad: b.st.bad.Load(), Gaps: b.st.gaps.Load(), Fetched: b.st.fetched.Load(),
		Lost: b.st.lost.Load(), Fetches: b.st.fetches.Load(), Reconnects: b.st.reconnects.Load(),
		SlowConsumer: b.st.slow.Load(), Epochs: b.st.epochs.Load(),
	}
	s.PendingMsgs, s.PendingBytes, _ = b.live.Pending()
	ns := b.nc.Stats()
	s.NATSIn, s.NATSOut = ns.InBytes, ns.OutBytes
	return s
}
