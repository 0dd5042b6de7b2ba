// Package server is where the three layers meet: it implements
// poller.Handler, runs each connection's bytes through frame (handshake,
// frames, ops), keeps the connection's small session record, and drives
// shard (registration, subscriptions, publishes, the wheel).
//
// It is a package of its own, not part of cmd/, because this is the one
// place that knows all three layers; cmd/ only parses flags and wires.
//
// It owns the session record (session.go) and the policies: heartbeats and
// deadlines (timer.go), the slow-consumer close (1008), the connection limit
// (503), drain on shutdown (1001, spread over the drain window).
//
// It must never touch a socket except through *poller.Conn, never block an
// engine goroutine, and never do per-recipient work: publishes are encoded
// once (publish.go) and shard writes the same bytes to every subscriber.
//
// Concurrency: OnOpen/OnData/OnClose for one connection are serialised by
// the engine; OnTimer and OnSlow come from shard workers and touch only the
// session's atomic fields, or go through *poller.Conn (which serialises
// writes under its own lock).
package server
