package frame

import "github.com/starling-ws/starling/internal/bufpool"

// Buffers for incomplete frames and reassembled messages come from
// internal/bufpool, the size-class pool shared with poller's queued copies.

// getBuf returns an empty buffer with capacity of at least n.
func getBuf(n int) []byte { return bufpool.Get(n)[:0] }

// putBuf gives b back; b must not be used afterwards.
func putBuf(b []byte) { bufpool.Put(b) }
