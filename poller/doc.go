// Package poller owns sockets: it accepts TCP connections, reports readable
// bytes, writes shared immutable byte slices without ever blocking, and
// closes. It knows nothing about WebSocket.
//
// Two engines implement one small contract:
//
//   - "netpoll": github.com/cloudwego/netpoll's EventLoop does accept and
//     reads. Its Writer/Flush is not used: Flush blocks the caller while the
//     socket is full, so writes go through this package's own non-blocking
//     write path (conn_write.go), with a write-readiness epoll of our own.
//   - "epoll": a native engine on golang.org/x/sys/unix built for density:
//     N event loops, one shared scratch read buffer per loop, a flat
//     connection record, no goroutine, timer or buffer per idle connection.
//
// The contract (poller.go):
//
//   - up: Handler.OnOpen, Handler.OnData (the slice is valid only during the
//     call; the handler may modify it in place, e.g. to unmask), and
//     Handler.OnClose, exactly once per connection. Calls for one connection
//     are never concurrent with each other.
//   - down: Conn.Write (shared bytes, referenced not copied if they must be
//     queued), Conn.WriteCopy (copied only if queued), Conn.CloseAfter,
//     Conn.Close and Conn.Abort (a reset: the kernel frees the unsent bytes
//     at once instead of holding them in FIN-WAIT-1; Conn.Unsent says how
//     many there are). None of them blocks on the network.
//
// Invariants:
//   - Only the engine touches a socket's file descriptor; writes to one
//     connection are serialised by Conn.wmu, a leaf lock: nothing is taken
//     and no Handler is called under it, so a caller may write holding
//     locks of its own; the engine never takes another package's lock.
//   - Bytes are queued per connection only when the socket would block, and
//     at most Config.MaxOutbound of them; past that Write reports
//     ErrOverflow, having already dropped the queue so memory is released at
//     once.
//   - A file descriptor number is released (close(2)) only by the engine
//     after every writer has seen the connection closed, so a late write can
//     never reach a reused descriptor.
//   - A panic in a Handler callback ends only its connection (panic.go):
//     it is recovered, reported (Config.OnPanic or the log) and counted, the
//     connection is closed, and the loop goes on.
//   - Stopping never waits on clients: StopAccepting returns promptly even
//     when accept(2) keeps failing with EMFILE (descriptors exhausted).
//   - The epoll engine has one fd table for all its loops (epoll_table.go):
//     a slot is written only by the loop that owns its connection, lookups
//     take no lock, and pages are freed when empty, so the table's memory
//     follows the open connections, not the highest descriptor ever seen.
//
// Exported for tools and tests only, each in a file named for it: dial.go
// (Epoll.Start, Epoll.Dial: the load generator's client sockets, handed to
// the loops already connected, so the per-event path never tests for a
// dialling socket) and testconn.go (NewTestConn: a guard test keeps it out
// of production code).
//
// Both engines are Linux-only (epoll). Elsewhere the package still builds
// (Conn's write path and NewTestConn, so that shard and the layers above
// build and test on macOS) and New returns an error that says so; no
// interface stands in the write path to make that possible.
//
// This package must never parse WebSocket, hold a lock of another package,
// or start a goroutine per connection.
package poller
