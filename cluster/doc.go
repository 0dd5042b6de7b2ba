// Package cluster is the bus between Starling nodes: one JetStream stream
// that sequences and keeps every channel's publications, and a live feed of
// them that every node delivers to its local hub in the stream's order.
//
// # The model
//
// A publish on any node is an async JetStream publish to
// "<prefix>.ch.<token>", the channel being one subject token (subject.go).
// The stream stores it under the next stream sequence, which is the
// publication's offset everywhere, and republishes it (stream RePublish) to
// "<prefix>.live.<token>" with two headers: Nats-Sequence (the offset) and
// Nats-Last-Sequence (the channel's last stored offset before it, 0 if none:
// the predecessor a resume checks). Offsets therefore increase per channel
// but are not contiguous. The stream's limits are the cluster's history:
// MaxMsgsPerSubject = history size, MaxAge = history TTL, MaxBytes = history
// memory, discard old. The epoch is derived from the stream's creation time:
// the same for every node and across restarts, new when the stream is
// created again (its sequences start over).
//
// Every node subscribes to the whole live feed with one wildcard
// subscription (docs/cluster.md has the measurements behind this choice).
// Because the feed carries every stream sequence, a node checks one number,
// the highest sequence it delivered (hw): a message above hw+1 means it
// missed some (a dropped message, a slow consumer, a reconnect), and it
// fetches the missing range from the stream (direct batch get) and delivers
// it in order before going on; a message at or below hw is a duplicate. So
// per channel every node delivers the same publications in the same order
// with the same offsets and predecessors, and the bus keeps no state per
// channel.
//
// # What the server asks of it
//
// Publish (async, acked through a callback), Deliver on the Sink, Fetch
// (the stored publications after an offset, for a resume), Stored (one
// stored publication, to anchor a node that never delivered it),
// Delivered/WaitDelivered (how far this node has delivered the stream: a
// resume from a node that is ahead waits for it), Ready, Stats, Drain and
// Close.
//
// # What it owns and must never do
//
// It owns the NATS connection, the stream's configuration, the epoch, the
// live subscription, the catch-up and the publish acks. It never imports
// server or shard (the server hands it a Sink), never blocks a caller of
// Publish (a publish that cannot reach the bus fails at once with
// ErrUnavailable), and never delivers out of stream order.
//
// # Concurrency
//
// dmu serialises delivery: the live handler (one nats.go goroutine) and the
// resync goroutine (after a connect, a reconnect or a slow-consumer event)
// hold it while they fetch and call Sink.Deliver, so Deliver is never
// called concurrently and sees every channel in stream order. It is held
// across fetches from the stream, bounded by Config.FetchTimeout and
// Config.MaxCatchup; nothing else waits for it. Publish takes only pmu (a
// leaf: the map of publishes waiting for their ack).
package cluster
