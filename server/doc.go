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
// (503), drain on shutdown (1001, spread over the drain window), and the
// gate's use (gate.go at the handshake: accept bucket, Origin, client
// address, per-address cap, token; auth.go after it: the auth op, err
// 401/403, 4401 at -auth-timeout or expiry), and it is the HTTP API's
// Backend (backend.go).
//
// The gate is paid once per connection: at most one getpeername(2) and one
// token verification at the handshake, one per auth op; per op only an
// atomic load of the grant and, for sub/pub, its allocation-free pattern
// check; nothing per recipient. Token expiry and the auth deadline are one
// more deadline of the connection's single wheel entry.
//
// permessage-deflate (compress.go) costs a connection one bit, the
// decoder's deflate flag, which also puts its subscriptions in shard's
// Compressed class; a publish is compressed once per encoding on a shard
// worker, and compressors and inflaters are pooled, never per connection.
//
// It must never touch a socket except through *poller.Conn, never block an
// engine goroutine, and never do per-recipient work: publishes are encoded
// once (publish.go) and shard writes the same bytes to every subscriber.
//
// With a cluster bus attached (JoinCluster, cluster.go) it is also the bus's
// Sink: pubs and API publishes go to the bus and are acked on its ack,
// every publication comes back through Deliver into the hub, and resumes
// that this node's history cannot serve go through a bounded fetch pool.
// Event loops never call the bus; its goroutines and the fetch pool write
// to sessions only through *poller.Conn.
//
// Concurrency: OnOpen/OnData/OnClose for one connection are serialised by
// the engine; OnTimer and OnSlow come from shard workers and touch only the
// session's atomic fields, or go through *poller.Conn (which serialises
// writes under its own lock).
package server
