package poller

// NewTestConn wraps an existing descriptor fd in a Conn that belongs to no
// engine, for the tests and benchmarks of the layers above (shard, metrics)
// that write to /dev/null or a socketpair. Writes that would block are
// queued and never flushed, since no epoll watches the descriptor; Close
// shuts a socket down but never closes fd, which stays the caller's.
// maxOutbound 0 means DefaultMaxOutbound.
//
// Why it is exported from here: a Conn's fields are unexported and the
// write path is plain code on this concrete type, so only this package can
// build one. An export_test.go would be visible to poller's own tests only,
// and an internal package could not build a Conn without poller exporting
// a constructor anyway. So it stays in this file, named for what it is, and
// TestNewTestConnOnlyInTests fails if any non-test file outside poller
// calls it.
func NewTestConn(fd int, maxOutbound int) *Conn {
	return newConn(fd, -1, false, maxOutbound)
}
