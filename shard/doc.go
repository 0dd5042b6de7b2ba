// Package shard owns who is connected and subscribed, and time: S shards,
// each with its own lock, connection table, channel membership and hashed
// timer wheel; per-channel offsets; the fan-out workers that write one
// precomputed frame to every subscriber; and the coarse clock.
//
// It knows connections only as *poller.Conn (it calls Write on them) and
// frames only as immutable byte slices built once per publish by the caller.
// It must never encode or copy a message per recipient, allocate per
// recipient, call time.Now per connection, or start a goroutine or timer per
// connection.
//
// Lock order: stripe.mu (channel offsets) -> shard.qmu (fan-out queue);
// shard.mu -> stripe.mu (subscribe, unsubscribe, remove); shard.mu ->
// poller.Conn.wmu (fan-out); Clock.mu -> shard.qmu (ticks); Hub.life ->
// shard.qmu (Flush). shard.qmu is a leaf. Callbacks (OnSlow, OnTimer,
// OnFanout, OnTickLag) are made from the shard's worker with no lock held.
//
// Only a shard's worker writes fan-out frames to that shard's connections;
// a connection removed with Remove gets nothing from fan-outs still queued.
package shard
