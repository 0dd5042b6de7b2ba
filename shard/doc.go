// Package shard owns who is connected and subscribed, channel offsets and
// history, and time: S shards, each with one worker goroutine that owns its
// connection table, member lists and hashed timer wheel; channel records in
// 64 lock stripes; the fan-out that writes one frame per publish per class
// to every subscriber; and the coarse clock.
//
// It knows connections only as *poller.Conn (it calls Write on them) and
// frames only as immutable byte slices built once per publish per class by
// the caller's Payload. It must never encode or copy a message per
// recipient, allocate per recipient, call time.Now per connection, or start
// a goroutine or timer per connection.
//
// # Who may touch what
//
// A shard's slots, wheel, groups' member arrays and pending joins belong to
// its worker goroutine alone: no lock guards them, and nothing else reads
// them. Event loops (and the clock, and the server's timers) never touch
// them directly: they post requests (Add, Arm, Remove, the join of a
// Subscribe, the leave of an Unsubscribe, ticks) to the shard's control
// inbox, whose mutex (imu) is a leaf held only to append or swap a slice.
// So a loop never waits for a fan-out: the worker writes to subscribers
// holding no lock at all, and between chunks of a fan-out it serves the
// control inbox, so a sub's ack or a ping is at most one chunk late.
//
// Channel records (offset, epoch, history, subscriber counts, the list of
// shards with members) live in stripes picked by a hash of the name, each
// under its own mutex. Publish holds the stripe lock to take the next
// offset and queue the publish on every shard with members; Subscribe holds
// it to read the offset the subscriber starts after and queue the join. So
// per channel, joins and publishes reach every shard's queues in one total
// order, which is what makes the ack's offset exact.
//
// # Lock order
//
// stripe.mu -> shard.imu (enqueue). Clock.mu -> shard.imu (ticks).
// Hub.life -> shard.imu (Flush). The worker takes stripe.mu (when a leave
// or a close makes a channel's counts drop) holding nothing else. No lock
// is held across a write(2) to a subscriber, and callbacks (OnTimer,
// OnSlow, OnFanout, OnTickLag) run with no lock held.
//
// # Ordering guarantees on the wire
//
// For one connection: the ack of a sub, then the replayed publications (if
// `since` was given), then live publications with offsets after the ack's,
// in order, with no gap and no duplicate; after an unsub's ack, no
// publication of that channel. These hold because the worker writes the
// ack and the replay itself, and a member joins pending: it receives only
// publications newer than its ack's offset, even those still queued.
package shard
