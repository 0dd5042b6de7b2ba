// Package bench is `starling bench`: the scenarios (connect, idle,
// broadcast, fanin, storm, resume, floor) that drive a Starling server over
// loopback, the server under test (spawned or attached), the sampling that
// turns a run into per-connection figures, and the reports (table, JSON,
// the panels of a chart) and profile merges each run ends with.
//
// Around it, one package per concern:
//   - bench/worker: the parent-worker protocol (JSON lines over stdin and
//     stdout) and the worker processes; a run spreads its sockets over
//     several, since one process may hold at most ~19,000 here.
//   - bench/loadclient: what a worker runs, WebSocket clients on the
//     poller's epoll engine with no goroutine per connection.
//   - bench/procstat: the /proc readers (prometheus/procfs).
//   - bench/chart: the SVG renderer.
//   - bench/plan: the profile these runs write and `starling plan`, which
//     reads it (and builds on macOS).
//
// This package must never import server/ or shard/ (it measures the server
// from the outside, over sockets and /proc), keep a flag at package level, or
// start a run without a count and a time bound.
package bench
