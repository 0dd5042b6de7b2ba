// Package bench owns Starling's load generator and capacity planner: the
// `starling bench` scenarios (connect, idle, broadcast, fanin, storm, floor),
// the worker processes that hold the client sockets, the /proc sampling that
// turns a run into per-connection figures, the reports (table, JSON, SVG
// chart), the profile JSON those runs write, and `starling plan`, which reads
// that profile to say how many connections fit a machine.
//
// Clients are cheap on purpose: a worker process dials through the poller's
// epoll engine (no goroutine per connection) and speaks WebSocket with a
// tiny masking framer (client.go). One process may hold at most ~19,000
// sockets (RLIMIT_NOFILE is 20,000 here), so a run spreads its connections
// over several re-executed worker processes, each dialling from its own
// source addresses (worker i from 127.0.(1+i).2-9) so local ports never run
// out and connect(2)'s ephemeral-port search stays cheap.
//
// This package must never import server/ or shard/ (it measures the server
// from the outside, over sockets and /proc), keep a flag at package level, or
// start a run without a count and a time bound.
package bench
