package poller

// NewTestConn wraps an existing descriptor fd in a Conn that belongs to no
// engine (for tests and benchmarks of the layers above, e.g. writing to
// /dev/null). Writes that would block are queued and never flushed, since no
// epoll watches the descriptor; Close shuts a socket down but never closes
// fd, which stays the caller's. maxOutbound 0 means DefaultMaxOutbound.
func NewTestConn(fd int, maxOutbound int) *Conn {
	return newConn(fd, -1, false, maxOutbound)
}
