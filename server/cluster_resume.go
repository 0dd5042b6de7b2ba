package server

import (
	"context"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// Resume across nodes. Every node delivers every publication, so a client
// that moves from another node usually resumes from this node's own
// history, on the event loop like any sub. Two cases need the bus, and go
// to the fetch pool (-nats-max-fetches goroutines behind a queue of
// -nats-fetch-queue; a full queue answers the sub from this node's history
// alone, recovered:false if that cannot):
//   - this node has not delivered the client's offset yet (it lags the
//     node the client came from by a few messages, or has just connected):
//     the fetcher waits, up to -nats-fetch-timeout, until it has
//     (Bus.WaitDelivered), so the resume is neither refused nor answered
//     with publications the client already has;
//   - this node's history does not reach back to the client's offset (it
//     started later, or evicted the channel): the fetcher reads the
//     missing publications from the stream (Bus.Fetch, at most -max-replay
//     of them; more is recovered:false, as for a local resume), hands
//     those newer than the hub's position to it with PublishAt (they are
//     the stream's, in order, so the hub's history and any members here
//     take them as the live feed would have), and subscribes through them
//     (Hub.SubscribeFrom). When nothing after the client's offset is stored
//     the client has missed nothing, and the stored publication at its
//     offset tells the hub where the channel stands (anchor). A failed
//     fetch answers from the hub alone.
//
// Order on the connection: while a connection's resume of a channel waits,
// its later sub and unsub ops for that channel queue behind it (at most
// maxFollow) and run, in order, right after it. Ops on other channels go
// on at once.
//
// Memory: a queued resume is a fetchReq (about 150 B plus the channel name
// and id); one running holds at most -max-replay + 1 fetched publications
// (each at most -max-message): -nats-max-fetches x (-max-replay + 1) x
// -max-message at worst.

// Lock order: fmu -> stripe.mu -> shard.imu (resolve subscribes holding
// fmu, so that ops queued behind a resume cannot overtake it). fmu is
// never taken under another lock, and nothing is written to a socket
// under it.

// maxFollow bounds the ops one connection may queue behind one resume.
const maxFollow = 64

type fetchKey struct {
	ss *session
	ch string
}

// fetchReq is a sub with since waiting for the bus.
type fetchReq struct {
	ss    *session
	ch    []byte
	enc   frame.Enc
	id    []byte
	since shard.Position
	then  []follower // under fmu
}

// follower is an op that arrived for the same connection and channel
// while its resume waited.
type follower struct {
	unsub bool
	enc   frame.Enc
	id    []byte          // sub: its id
	ack   []byte          // unsub: its ack (nil without id)
	since *shard.Position // sub
}

// sub is the cluster's share of a sub op, on the event loop: true if it
// took the op over (queued behind a waiting resume of the same channel, or
// queued for the fetch pool).
func (c *clusterSide) sub(ss *session, ch []byte, enc frame.Enc, id []byte, since *shard.Position) bool {
	if c.nfetch.Load() > 0 {
		switch c.follow(ss, ch, follower{enc: enc, id: id, since: since}) {
		case queued:
			return true
		case full:
			ss.link.Unreserve()
			ss.replyErr(enc, id, frame.CodeTooMany, "too many ops queued behind a resume of this channel")
			return true
		}
	}
	if since == nil || !c.needsBus(ch, *since) {
		return false
	}
	r := &fetchReq{ss: ss, ch: clone(ch), enc: enc, id: clone(id), since: *since}
	c.fmu.Lock()
	defer c.fmu.Unlock()
	select {
	case c.fetchq <- r:
	default:
		c.st.fetchFull.Add(1)
		return false
	}
	// Registered before a fetcher can finish it: that takes fmu first.
	c.fetching[fetchKey{ss, string(r.ch)}] = r
	c.nfetch.Add(1)
	return true
}

// unsub queues an unsub behind a waiting resume of the same channel.
func (c *clusterSide) unsub(ss *session, ch []byte, enc frame.Enc, id, ack []byte) bool {
	if c.nfetch.Load() == 0 {
		return false
	}
	switch c.follow(ss, ch, follower{unsub: true, enc: enc, id: id, ack: ack}) {
	case queued:
		return true
	case full:
		ss.replyErr(enc, id, frame.CodeTooMany, "too many ops queued behind a resume of this channel")
		return true
	}
	return false
}

// needsBus reports whether a resume from since needs the fetch pool.
func (c *clusterSide) needsBus(ch []byte, since shard.Position) bool {
	ep := c.bus.Epoch()
	switch {
	case ep == 0:
		return true // not synced yet: the fetcher waits for the epoch
	case since.Epoch != ep:
		return false // another stream's offsets: recovered:false
	case since.Off > c.bus.Delivered():
		return true
	}
	return !c.s.hub.CanRecover(ch, since)
}

// What follow did with an op.
const (
	none   = iota // no resume of that channel waits on this connection
	queued        // queued behind it
	full          // maxFollow ops wait already: refuse (err 429)
)

// follow queues f behind ss's waiting resume of ch, if there is one.
func (c *clusterSide) follow(ss *session, ch []byte, f follower) int {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	r := c.fetching[fetchKey{ss, string(ch)}]
	switch {
	case r == nil:
		return none
	case len(r.then) == maxFollow:
		return full
	}
	f.id = clone(f.id)
	if f.since != nil {
		s := *f.since
		f.since = &s
	}
	r.then = append(r.then, f)
	return queued
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// fetcher serves the fetch queue.
func (c *clusterSide) fetcher() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			return
		case r := <-c.fetchq:
			c.resolve(r)
		}
	}
}

// resolve completes one waiting resume and the ops queued behind it.
func (c *clusterSide) resolve(r *fetchReq) {
	s := c.s
	open := r.ss.phase() == stOpen
	var fetched []shard.Stored
	if open {
		fetched = c.fetch(r)
	}
	var direct [][]byte // replies written here, after fmu is released
	c.fmu.Lock()
	delete(c.fetching, fetchKey{r.ss, string(r.ch)})
	c.nfetch.Add(-1)
	if open && r.ss.phase() == stOpen {
		if code, msg := s.subscribe(r.ss, r.enc, r.ch, r.id, &r.since, fetched); code != 0 && r.id != nil {
			direct = append(direct, s.errReply(r.ss, r.enc, r.id, code, msg))
		}
		for _, f := range r.then {
			if f.unsub {
				if !s.hub.Unsubscribe(&r.ss.link, r.ch, f.ack) && f.ack != nil {
					direct = append(direct, f.ack)
				}
				continue
			}
			if code, msg := s.subscribe(r.ss, f.enc, r.ch, f.id, f.since, nil); code != 0 && f.id != nil {
				direct = append(direct, s.errReply(r.ss, f.enc, f.id, code, msg))
			}
		}
	}
	c.fmu.Unlock()
	for _, b := range direct {
		r.ss.write(b)
	}
}

// fetch brings this node up to the client's position and returns what
// the stream holds after it, when the hub cannot resume alone; nil means
// the hub answers alone (recovered:false unless it can).
func (c *clusterSide) fetch(r *fetchReq) []shard.Stored {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BusFetchTimeout)
	defer cancel()
	if c.bus.Epoch() == 0 || c.bus.Delivered() < r.since.Off {
		c.st.caughtUp.Add(1)
		if !c.bus.WaitDelivered(ctx, r.since.Epoch, r.since.Off) {
			c.st.caughtUpNot.Add(1)
			return nil
		}
	}
	if s.hub.CanRecover(r.ch, r.since) {
		return nil
	}
	max := s.maxReplay()
	c.st.fetches.Add(1)
	pubs, err := c.bus.Fetch(ctx, r.ch, r.since.Off, max+1)
	if err != nil {
		c.st.fetchFailed.Add(1)
		return nil
	}
	if len(pubs) == 0 {
		c.anchor(ctx, r)
		return nil
	}
	if len(pubs) > max || pubs[0].Prev != r.since.Off {
		// More than -max-replay, or the stream lost some: the hub answers
		// recovered:false.
		return nil
	}
	out := make([]shard.Stored, len(pubs))
	for i, p := range pubs {
		pl := &payload{data: p.Data, enc: p.Enc, srv: s}
		out[i] = shard.Stored{Off: p.Off, Prev: p.Prev, P: pl}
		// The hub takes only those above its position (the rest it has).
		_, _ = s.hub.PublishAt(r.ch, p.Off, p.Prev, r.since.Epoch, pl)
	}
	return out
}

// errReply builds (and counts) an err reply to write later.
func (s *Server) errReply(ss *session, enc frame.Enc, id []byte, code int, msg string) []byte {
	s.st.repliesOut.add(ss.pc.Fd(), 1)
	return frame.AppendErr(nil, enc, id, code, msg)
}

// anchor handles a client that is up to date with the stream on a node
// that has not delivered its offset itself (it started after it, or
// dropped the channel): nothing is stored after since, so the client has
// missed nothing, but the hub does not know the channel's position and
// would answer recovered:false. The stored publication at since gives it:
// handed to the hub, the hub's position becomes since and the sub that
// follows is recovered with nothing to replay. Its predecessor is not
// known (the stream keeps none with a message), so it is given as the
// publication's own offset, which no client position below it can match:
// a resume from before it on this node goes through a fetch, never
// through a guessed chain.
func (c *clusterSide) anchor(ctx context.Context, r *fetchReq) {
	s := c.s
	p, ok, err := c.bus.Stored(ctx, r.ch, r.since.Off)
	if err != nil || !ok {
		return
	}
	pl := &payload{data: p.Data, enc: p.Enc, srv: s}
	if ok, _ := s.hub.PublishAt(r.ch, p.Off, p.Off, r.since.Epoch, pl); ok {
		c.st.anchors.Add(1)
	}
}

// maxReplay is the publications one sub may replay.
func (s *Server) maxReplay() int {
	if s.cfg.MaxReplay > 0 {
		return s.cfg.MaxReplay
	}
	return s.cfg.HistorySize
}
