package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Classes are powers of two from MinClass to MaxClass: a buffer wastes at
// most half of itself (powers of four would waste up to three quarters, and
// queued bytes are memory the operator budgets per connection), and the
// class of a size is one bit count, no search.
const (
	minShift = 8  // 256 B
	maxShift = 20 // 1 MiB
	MinClass = 1 << minShift
	MaxClass = 1 << maxShift
	classes  = maxShift - minShift + 1
)

// The pools hold a pointer to the first byte of a class-sized array, not a
// slice: an unsafe.Pointer fits in an interface without an allocation, a
// *[]byte would need a header allocated per Put. The class implies the
// length.
var pools [classes]sync.Pool

// Get returns a buffer of length n whose capacity is the smallest class
// that holds n (n <= 0 gets the smallest class with length 0). Above
// MaxClass it is a plain allocation of exactly n, which Put drops.
func Get(n int) []byte {
	if n > MaxClass {
		return make([]byte, n)
	}
	i := classOf(n)
	size := MinClass << i
	if p, _ := pools[i].Get().(unsafe.Pointer); p != nil {
		return unsafe.Slice((*byte)(p), size)[:max(n, 0)]
	}
	return make([]byte, max(n, 0), size)
}

// Put gives b's backing array back to the pool of its capacity. Only a
// buffer whose capacity is exactly a class (what Get returns, resliced from
// its start) is kept; anything else is left to the garbage collector. b
// must not be used after Put, through any slice of the same array.
func Put(b []byte) {
	c := cap(b)
	if c < MinClass || c > MaxClass || c&(c-1) != 0 {
		return
	}
	pools[bits.TrailingZeros(uint(c))-minShift].Put(unsafe.Pointer(unsafe.SliceData(b[:1])))
}

// classOf is the index of the smallest class holding n bytes.
func classOf(n int) int {
	if n <= MinClass {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// Class is the capacity Get(n) returns: what holding n bytes really costs.
func Class(n int) int {
	if n > MaxClass {
		return n
	}
	return MinClass << classOf(n)
}
