package poller

import "github.com/starling-ws/starling/internal/stripe"

// Write-path counters are striped (internal/stripe) by descriptor rather
// than kept in single atomics: writers are the shard fan-out goroutines,
// many at once, and one counter would put every write of every connection
// on one contended cache line. Stats folds the stripes at read time, so a
// reader sees a sum that may be a few writes stale.
type connCounters struct {
	bytesOut   stripe.Counter
	wouldBlock stripe.Counter
	overflows  stripe.Counter
	queued     stripe.Counter // gauge: bytes waiting in queues now
	resets     stripe.Counter // Abort calls (connections ended with RST)
}

// defaultCounters counts for connections whose engine keeps no counters of
// its own (test conns).
var defaultCounters connCounters

// fold adds the counters into st.
func (k *connCounters) fold(st *Stats) {
	st.BytesOut += uint64(k.bytesOut.Load())
	st.WouldBlock += uint64(k.wouldBlock.Load())
	st.Overflows += uint64(k.overflows.Load())
	st.QueuedBytes += k.queued.Load()
	st.Resets += uint64(k.resets.Load())
}
