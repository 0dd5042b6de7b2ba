package poller

import "sync"

// WriteCopy's queued copies come from per-size-class pools so that a slow
// reader's backlog does not churn the heap. Classes grow by 4x; anything
// larger than the top class is a plain allocation and is not pooled.
const (
	poolMinShift = 8 // 256 B
	poolClasses  = 5 // 256 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB
)

var bufPools [poolClasses]sync.Pool

func poolClassFor(n int) int {
	for i := 0; i < poolClasses; i++ {
		if n <= 1<<(poolMinShift+2*i) {
			return i
		}
	}
	return -1
}

// getBuf returns a buffer of length n, and the pool handle to give back to
// putBuf (nil when n is beyond the top class).
func getBuf(n int) ([]byte, *[]byte) {
	cl := poolClassFor(n)
	if cl < 0 {
		return make([]byte, n), nil
	}
	if v := bufPools[cl].Get(); v != nil {
		pb := v.(*[]byte)
		return (*pb)[:n], pb
	}
	b := make([]byte, 1<<(poolMinShift+2*cl))
	return b[:n], &b
}

// putBuf returns pb to the pool its capacity belongs to.
func putBuf(pb *[]byte) {
	c := cap(*pb)
	for i := poolClasses - 1; i >= 0; i-- {
		if c == 1<<(poolMinShift+2*i) {
			*pb = (*pb)[:0]
			bufPools[i].Put(pb)
			return
		}
	}
}
