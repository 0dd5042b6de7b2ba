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
	if since != nil {
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
