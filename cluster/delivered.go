package cluster

import (
	"context"
	"time"
)

// advanced publishes hw to Delivered's readers. Caller holds dmu, after
// the Deliver calls up to hw have returned.
func (b *Bus) advanced() { b.done.Store(b.hw) }

// Delivered is the highest stream sequence this node has handed to its
// Sink (or skipped as lost): every publication at or below it, on every
// channel, has been delivered here. Offsets are stream sequences, so a
// client's position on any channel can be compared with it: a node whose
// Delivered is below a resuming client's offset has not caught up with
// the node the client came from yet. 0 before the first sync; it goes
// back only when the epoch changes (the stream was created again).
func (b *Bus) Delivered() uint64 { return b.done.Load() }

// WaitDelivered waits until Delivered reaches seq under epoch, ctx ends,
// or the epoch moves on (then waiting is pointless: offsets start over).
// It reports whether seq was reached. For resumes only (a goroutine of
// the caller's, never an event loop): it polls, from 50 µs between looks
// up to 5 ms, because nothing else should pay a wake-up per delivered
// message for the rare waiter.
func (b *Bus) WaitDelivered(ctx context.Context, epoch uint32, seq uint64) bool {
	pause := 50 * time.Microsecond
	var t *time.Timer
	for {
		e := b.epoch.Load()
		if e == epoch && b.done.Load() >= seq {
			return true
		}
		if e != 0 && e != epoch || b.closing.Load() {
			return false
		}
		if t == nil {
			t = time.NewTimer(pause)
			defer t.Stop()
		} else {
			t.Reset(pause)
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Millisecond)
	}
}
