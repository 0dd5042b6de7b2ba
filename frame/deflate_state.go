package frame

// What compression costs in memory is fixed, never per connection: a
// compressor or inflater exists only while a call uses it, borrowed from
// a pool, so the most that can be live at once is one per goroutine that
// compresses or inflates at the same time (in the server: one per shard
// worker, one per event loop). These bound one of each, measured with
// their buffers after use by TestDeflateStateBytes; docs/operations.md and
// `starling plan` use them.
const (
	// DeflaterBytes bounds one pooled compressor (klauspost/compress
	// level 5: its hash tables and history; ~740 KB new, ~1.07 MB once it
	// has compressed, whatever the input's size).
	DeflaterBytes = 1100 << 10
	// InflaterBytes bounds one pooled inflater (a 32 KiB window and the
	// Huffman tables).
	InflaterBytes = 48 << 10
)
