package shard

import (
	"sync"
	"sync/atomic"
)

// Class is what frame variant a subscriber receives: bit 0 the encoding
// (0 MessagePack on binary frames, 1 JSON on text frames), bit 1 whether
// the connection negotiated permessage-deflate.
type Class uint8

// NClass is the number of classes.
const NClass = 4

// Compressed is the class bit of connections that negotiated
// permessage-deflate.
const Compressed Class = 2

// Payload is one publish's content. Frame builds the complete WebSocket
// frame for class cls, once per class per publish, on whichever shard
// worker first needs it (never under a lock that an event loop takes); it
// may return nil if it cannot (that class's subscribers then miss this
// offset), and it must not call the Hub. For a Compressed class nil means
// instead "not worth compressing": those subscribers get the frame of the
// same class without the bit, built once and shared (so a small publish
// costs one frame however many classes receive it). Size is the bytes
// charged to the fan-out queue bound and the history memory (about the
// payload's size).
type Payload interface {
	Frame(cls Class, ch string, off uint64) []byte
	Size() int
}

// task is one publish on its way through the shards' queues, and, with
// history on, a retained publication. Its frames are built lazily, each at
// most once: built is a bitmask published after frames[c] is stored; bit
// aliasShift+c says frames[c] is the plain class's frame, shared (counted
// once in the history's bytes).
type task struct {
	p          Payload
	ch         *channel
	off        uint64
	prev       uint64 // the channel's offset before this one (off-1 unless a bus sequences the channel)
	size       int64
	start      int64 // clock-relative ns, for OnFanout
	pending    atomic.Int32
	recipients atomic.Int64
	built      atomic.Uint32
	mu         sync.Mutex // serialises builds
	frames     [NClass][]byte
	at         uint32 // tick published (history TTL)
	kept       bool   // in a history ring (under the stripe lock)
	charged    int64  // history bytes charged for this task (under mu)
}

// aliasShift places, in task.built, the bits of classes whose frame is
// another class's.
const aliasShift = 8

// frame returns t's frame for cls, building it on first use.
func (h *Hub) frame(t *task, cls Class) []byte {
	if t.built.Load()&(1<<cls) != 0 {
		return t.frames[cls]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return h.frameLocked(t, cls)
}

// frameLocked is frame with t.mu held. A Compressed class whose build
// declines takes the plain class's frame (built now if need be).
func (h *Hub) frameLocked(t *task, cls Class) []byte {
	bit := uint32(1) << cls
	if t.built.Load()&bit != 0 {
		return t.frames[cls]
	}
	f := h.build(t, cls)
	if f == nil && cls&Compressed != 0 {
		t.frames[cls] = h.frameLocked(t, cls&^Compressed)
		t.built.Or(bit | bit<<aliasShift)
		return t.frames[cls]
	}
	t.frames[cls] = f
	t.built.Or(bit)
	if t.charged > 0 { // still retained: its frames count as history memory
		n := int64(len(f))
		t.charged += n
		h.hist.bytes.Add(n)
	}
	return f
}

// frameBytes is the bytes of t's distinct frames (caller holds t.mu).
func (t *task) frameBytes() int64 {
	n := int64(0)
	alias := t.built.Load() >> aliasShift
	for cls := range t.frames {
		if alias&(1<<cls) == 0 {
			n += int64(len(t.frames[cls]))
		}
	}
	return n
}

func (h *Hub) build(t *task, cls Class) (f []byte) {
	defer func() {
		if v := recover(); v != nil {
			h.contain("Payload.Frame", v)
			f = nil
		}
	}()
	return t.p.Frame(cls, t.ch.name(), t.off)
}

// Publish takes ch's next offset and queues the publish to every shard
// holding subscribers; their workers build the frames (once per class) and
// write them. Per channel every recipient sees publishes in offset order.
//
// Without subscribers a channel exists only if history is on: then the
// publish is retained (and the channel created, counting toward
// MaxChannels); otherwise Publish returns offset 0 and does nothing.
// Errors: ErrBusy (a shard's queue is over QueueBytes; nothing was taken),
// ErrTooManyChannels, ErrStopped.
//
// The stripe lock is held across the offset, the history append and the
// enqueue on every shard, so the queues receive one channel's publishes in
// offset order; nothing expensive runs under it.
func (h *Hub) Publish(ch []byte, p Payload) (uint64, error) {
	if !validName(ch) {
		return 0, ErrName
	}
	size := int64(p.Size())
	st, c, hash := h.lockChannel(ch)
	if h.stopped.Load() {
		st.mu.Unlock()
		return 0, ErrStopped
	}
	if c == nil {
		if !h.hist.on {
			st.mu.Unlock()
			return 0, nil
		}
		var ok bool
		if c, ok = h.create(st, hash, ch); !ok {
			st.mu.Unlock()
			return 0, ErrTooManyChannels
		}
	}
	if h.busy(c, size) {
		st.mu.Unlock()
		return 0, ErrBusy
	}
	n := c.groupsWithMembers()
	t := &task{p: p, ch: c, off: c.off + 1, prev: c.off, size: size}
	c.off++
	h.enqueue(st, c, t, n)
	off := c.off
	st.mu.Unlock()
	return off, nil
}

// enqueue counts a publish, retains it (history on) and queues it to the n
// groups of c with members. Caller holds st.mu.
func (h *Hub) enqueue(st *stripe, c *channel, t *task, n int32) {
	t.pending.Store(n)
	// Counted before any shard can write it, so a subscriber that has the
	// message never sees a counter that does not yet.
	st.publishes.Add(1)
	if h.hist.on {
		h.hist.keep(st, c, t, h.clock.Now())
	}
	if n == 0 {
		return
	}
	if h.cfg.OnFanout != nil {
		t.start = h.clock.mono()
	}
	for g := &c.home; g != nil; g = g.next {
		if g.cnt > 0 {
			s := h.shards[g.shard]
			g.q.Add(1)
			s.qbytes.Add(t.size)
			s.pushPub(item{t: t, g: g})
		}
	}
}

// PublishAt delivers a publish whose offset was assigned elsewhere: a
// cluster bus that sequences each channel for every node. off must be
// above the channel's current offset (an older or repeated one is a
// duplicate: dropped, false); prev is the channel's offset before it at
// the sequencer (a resume checks it to know nothing was lost in between,
// offsets need not be contiguous) and epoch the sequencer's (a channel
// seen with another epoch starts over: its history here is dropped).
//
// A publish the bus already accepted cannot be refused, so the fan-out
// queue bound does not apply (the bus consumer's own limits do). Without
// members here and with history off, nothing is kept: false.
func (h *Hub) PublishAt(ch []byte, off, prev uint64, epoch uint32, p Payload) (bool, error) {
	if !validName(ch) {
		return false, ErrName
	}
	st, c, hash := h.lockChannel(ch)
	defer st.mu.Unlock()
	if h.stopped.Load() {
		return false, ErrStopped
	}
	if c == nil {
		if !h.hist.on {
			return false, nil
		}
		var ok bool
		if c, ok = h.create(st, hash, ch); !ok {
			return false, ErrTooManyChannels
		}
	}
	if epoch != 0 && c.epoch != epoch {
		if c.hist != nil {
			h.hist.release(st, c)
		}
		c.epoch, c.off = epoch, 0
	}
	if off <= c.off {
		return false, nil
	}
	n := c.groupsWithMembers()
	t := &task{p: p, ch: c, off: off, prev: prev, size: int64(p.Size())}
	c.off = off
	h.enqueue(st, c, t, n)
	if n == 0 && !c.retained() {
		h.drop(st, c)
	}
	return true, nil
}

// Position is a point in a channel's stream: an offset within an epoch.
type Position struct {
	Off   uint64
	Epoch uint32
}

// Offset is ch's current position; false if the channel does not exist.
func (h *Hub) Offset(ch []byte) (Position, bool) {
	st, c, _ := h.lockChannel(ch)
	defer st.mu.Unlock()
	if c != nil {
		return Position{c.off, c.epoch}, true
	}
	return Position{}, false
}
