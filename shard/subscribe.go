package shard

// AckBuilder builds the reply a subscriber gets before anything of the
// channel: called once per Subscribe, under the channel's stripe lock (so
// it must be quick and must not call the Hub), with the position the
// member's stream starts after and, when since was given, whether the
// publications after it can be replayed. The bytes must not change
// afterwards; the shard's worker writes them.
type AckBuilder interface {
	BuildAck(pos Position, recovered, hasSince bool) []byte
}

// Reserve counts one more subscription for l if it holds fewer than max,
// before Subscribe; false means the caller must refuse the sub. A
// Subscribe that fails gives it back with Unreserve; everything after that
// (a duplicate, a leave, the close) gives it back by itself.
func (l *Link) Reserve(max int) bool {
	if l.subs.Add(1) > int32(max) {
		l.subs.Add(-1)
		return false
	}
	return true
}

// Unreserve gives back a Reserve whose Subscribe failed.
func (l *Link) Unreserve() { l.subs.Add(-1) }

// Subscribe asks for l's connection to join ch with class cls. It never
// waits for the shard: the join is queued, and the shard's worker writes
// ab's ack, then (with since, if recoverable) the publications after
// since, then makes the connection a member, which receives every
// publication after the ack's offset. A connection already subscribed gets
// the ack and nothing else. Errors: ErrTooManyChannels, ErrStopped.
//
// The caller must have Reserved a subscription for l.
func (h *Hub) Subscribe(l *Link, ch []byte, cls Class, since *Position, ab AckBuilder) error {
	return h.subscribe(l, ch, cls, since, nil, ab)
}

// Stored is a publication kept elsewhere (a cluster bus's stream), fetched
// for a resume that this hub's own history does not cover.
type Stored struct {
	Off, Prev uint64
	P         Payload
}

// SubscribeFrom is Subscribe with since resumed through fetched: the
// publications after since.Off that a bus kept (in offset order, each naming
// its predecessor), for a node whose own history starts later or not at
// all (it did not follow the channel, or it just started). recovered holds
// only if the fetched publications chain from since.Off into this hub's
// position (its history, or its current offset). A publication the hub
// already holds is taken from its own history. The fetch itself happens
// before, off the event loop; this call, like Subscribe, never waits.
func (h *Hub) SubscribeFrom(l *Link, ch []byte, cls Class, since Position, fetched []Stored, ab AckBuilder) error {
	return h.subscribe(l, ch, cls, &since, fetched, ab)
}

// CanRecover reports whether this hub's own history could resume since,
// so a caller knows whether a fetch from elsewhere is needed first.
func (h *Hub) CanRecover(ch []byte, since Position) bool {
	st, c, _ := h.lockChannel(ch)
	defer st.mu.Unlock()
	if c == nil {
		return false
	}
	ok, _ := h.hist.recover(c, since, h.clock.Now())
	return ok
}

func (h *Hub) subscribe(l *Link, ch []byte, cls Class, since *Position, fetched []Stored, ab AckBuilder) error {
	if !validName(ch) {
		return ErrName
	}
	st, c, hash := h.lockChannel(ch)
	defer st.mu.Unlock()
	if h.stopped.Load() {
		return ErrStopped
	}
	if c == nil {
		var ok bool
		if c, ok = h.create(st, hash, ch); !ok {
			return ErrTooManyChannels
		}
	}
	g := c.groupFor(l.shard)
	g.cnt++
	pos := Position{c.off, c.epoch}
	var recovered bool
	var replay []*task
	switch {
	case since != nil && len(fetched) > 0:
		recovered, replay = h.recoverFrom(c, *since, fetched)
	case since != nil:
		recovered, replay = h.hist.recover(c, *since, h.clock.Now())
	}
	r := req{kind: rJoin, l: l, g: g, cls: cls, off: c.off, replay: replay}
	if h.cfg.OnJoinWait != nil {
		r.sched = h.clock.mono()
	}
	r.ack = ab.BuildAck(pos, recovered, since != nil)
	h.shards[l.shard].push(r)
	return nil
}

// Unsubscribe asks for l's connection to leave ch; the shard's worker then
// writes ack (no publication of ch follows it). It returns false, and
// queues nothing, when the connection cannot be a member (the caller then
// writes its ack itself).
func (h *Hub) Unsubscribe(l *Link, ch []byte, ack []byte) bool {
	if !validName(ch) {
		return false
	}
	st, c, _ := h.lockChannel(ch)
	defer st.mu.Unlock()
	if c == nil {
		return false
	}
	g := c.groupOn(l.shard)
	if g == nil || g.cnt == 0 {
		return false
	}
	h.shards[l.shard].push(req{kind: rLeave, l: l, g: g, ack: ack})
	return true
}

// recoverFrom chains fetched publications (a bus's) from since to this
// hub's own history. Caller holds the stripe lock.
func (h *Hub) recoverFrom(c *channel, since Position, fetched []Stored) (bool, []*task) {
	if since.Epoch != c.epoch || since.Off > c.off {
		return false, nil
	}
	chain := since.Off
	var replay []*task
	for _, f := range fetched {
		if f.Off <= chain {
			continue
		}
		if f.Prev != chain {
			return false, nil // the bus lost something between
		}
		if f.Off > c.off {
			break // newer than this hub: it arrives live
		}
		if len(replay) == h.hist.cfg.MaxReplay {
			return false, nil
		}
		replay = append(replay, &task{p: f.P, ch: c, off: f.Off, prev: f.Prev, size: int64(f.P.Size())})
		chain = f.Off
	}
	if chain == c.off {
		return true, replay
	}
	// The rest from this hub's own history.
	ok, more := h.hist.recover(c, Position{chain, c.epoch}, h.clock.Now())
	if !ok || len(replay)+len(more) > h.hist.cfg.MaxReplay {
		return false, nil
	}
	return true, append(replay, more...)
}
