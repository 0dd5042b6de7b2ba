package poller

import "sync/atomic"

// Write-path counters are striped by descriptor (fd & stripeMask) rather than
// kept in one global atomic: writers are the shard fan-out goroutines, many
// at once, and a single counter would put every write of every connection on
// one contended cache line. Each stripe is padded to its own 128 bytes
// (two lines, against the adjacent-line prefetcher). Stats folds the stripes
// at read time, so a reader sees a sum that may be a few writes stale.
const (
	stripeCount = 64
	stripeMask  = stripeCount - 1
)

type wstats struct {
	bytesOut   atomic.Uint64
	wouldBlock atomic.Uint64
	overflows  atomic.Uint64
	queued     atomic.Int64
	_          [128 - 32]byte
}

type writeStripes [stripeCount]wstats

// defaultStripes counts for connections whose engine keeps no stripes of its
// own (test conns, and the netpoll engine unless it sets c.st).
var defaultStripes writeStripes

func (s *writeStripes) forFd(fd int) *wstats { return &s[fd&stripeMask] }

// fold adds the stripes' counters into st.
func (s *writeStripes) fold(st *Stats) {
	for i := range s {
		w := &s[i]
		st.BytesOut += w.bytesOut.Load()
		st.WouldBlock += w.wouldBlock.Load()
		st.Overflows += w.overflows.Load()
		st.QueuedBytes += w.queued.Load()
	}
}
