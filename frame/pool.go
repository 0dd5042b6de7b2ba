package frame

import (
	"sync"
	"unsafe"
)

// Buffers for incomplete frames and reassembled messages come from
// per-size-class pools. The pools hold a pointer to the first byte of the
// backing array rather than a slice, so that Put does not allocate a slice
// header; the capacity is implied by the class.
var bufClasses = [...]int{512, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

var bufPools [len(bufClasses)]sync.Pool

// getBuf returns an empty buffer with capacity of at least n: the smallest
// class that fits, or an exact allocation above the largest class.
func getBuf(n int) []byte {
	for i, c := range bufClasses {
		if n <= c {
			if p, _ := bufPools[i].Get().(unsafe.Pointer); p != nil {
				return unsafe.Slice((*byte)(p), c)[:0]
			}
			return make([]byte, 0, c)
		}
	}
	return make([]byte, 0, n)
}

// putBuf returns b to the largest class not above its capacity. Buffers
// smaller than the smallest class or larger than the largest are left to
// the garbage collector so that one huge message does not pin memory.
func putBuf(b []byte) {
	c := cap(b)
	if c < bufClasses[0] || c > bufClasses[len(bufClasses)-1] {
		return
	}
	i := len(bufClasses) - 1
	for bufClasses[i] > c {
		i--
	}
	bufPools[i].Put(unsafe.Pointer(unsafe.SliceData(b[:1])))
}
