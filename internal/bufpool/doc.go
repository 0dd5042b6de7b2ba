// Package bufpool is the one size-class byte pool: buffers for bytes that
// must outlive a call (a slow reader's queued copies in poller, a frame's
// reassembly in frame, a split handshake in server) come from here so that
// bursts do not churn the heap and idle connections hold nothing.
//
// It must never hand out a buffer that is still in use (callers Put only
// what they own and never touch it again), never pool a buffer above the
// largest class (one huge message must not pin memory), and never allocate
// on Put.
package bufpool
