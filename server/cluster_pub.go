package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// busPub is one publish on its way to the bus: copies of what the op
// carried (the read buffer is the engine's), in one allocation, and who
// gets the answer: a connection (ss, with the op's id if it had one) or an
// API request waiting on res.
type busPub struct {
	c    *clusterSide
	ss   *session // nil for the API
	fd   int      // counter stripe
	ch   []byte
	data []byte
	id   []byte // nil: the op had no id, nothing is written back
	enc  frame.Enc
	res  chan pubResult // API only
}

type pubResult struct {
	off uint64
	err error
}

// publishBus is a pub op on a cluster node, on the event loop: the same
// checks as a local publish (conversion, the fan-out queue bound), then a
// non-blocking hand-off to the publisher goroutine. The ack (or err 503)
// follows when the bus answers.
func (c *clusterSide) publishBus(ss *session, fd int, ch, data []byte, enc frame.Enc, id []byte) {
	p, code, msg := c.take(ss, fd, ch, data, enc, id)
	if code != 0 {
		ss.replyErr(enc, id, code, msg)
		return
	}
	c.pubq <- p // room is reserved by take's inflight count
}

// take checks a publish and reserves its place; code != 0 refuses it.
func (c *clusterSide) take(ss *session, fd int, ch, data []byte, enc frame.Enc, id []byte) (*busPub, int, string) {
	s := c.s
	if code, msg := s.checkPub(data, enc); code != 0 {
		return nil, code, msg
	}
	// The fan-out queue bound, as a local publish: this node's queues for
	// the channel stand for the cluster's (every node fans every
	// publication out).
	if err := s.hub.Admit(ch, len(data)); err != nil {
		if err == shard.ErrBusy {
			s.st.busy.add(fd, 1)
		}
		code, msg := hubErr(err)
		return nil, code, msg
	}
	// Reserve, then look at draining: drainPubs sets draining, then waits
	// for inflight to reach 0, so either it sees this reservation or this
	// sees draining (atomics are sequentially consistent). Nothing may
	// start once it drains, or its ack could come after the 1001.
	if c.inflight.Add(1) > int64(s.cfg.BusMaxInflight) || s.draining.Load() {
		c.inflight.Add(-1)
		if s.draining.Load() {
			return nil, CodeUnavailable, "draining: publish on another node"
		}
		c.st.pubBusy.Add(1)
		return nil, CodeUnavailable, "cluster bus busy: -nats-max-inflight publishes waiting for the bus, retry"
	}
	s.st.publishes.add(fd, 1)
	buf := make([]byte, len(ch)+len(data)+len(id))
	n := copy(buf, ch)
	m := n + copy(buf[n:], data)
	p := &busPub{c: c, ss: ss, fd: fd, ch: buf[:n:n], data: buf[n:m:m], enc: enc}
	if id != nil {
		p.id = buf[m : m+copy(buf[m:], id)]
	}
	return p, 0, ""
}

// publisher hands queued publishes to the bus, one goroutine so that a
// connection's publishes reach the stream in the order it sent them.
func (c *clusterSide) publisher() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			return
		case p := <-c.pubq:
			if err := c.bus.Publish(p.ch, p.data, p.enc, p.finish); err != nil {
				p.finish(0, err)
			}
		}
	}
}

// finish answers a publish: called exactly once, by the bus (a NATS
// goroutine) or by the publisher when the bus refused it at once.
func (p *busPub) finish(off uint64, err error) {
	c := p.c
	if err != nil {
		c.st.pubFailed.Add(1)
	} else {
		c.noteAcked(off)
	}
	// The answer is written before inflight falls, so that drainPubs,
	// once inflight is 0, knows every taken publish has been answered.
	defer c.inflight.Add(-1)
	if p.res != nil {
		p.res <- pubResult{off, err}
		return
	}
	if p.id == nil {
		return // replies only to ops that carry an id
	}
	ss := p.ss
	if ss.phase() != stOpen {
		return // closing: its close frame is on the way, nothing may follow it
	}
	var buf [replyMax]byte
	if err != nil {
		ss.reply(frame.AppendErr(buf[:0], p.enc, p.id, CodeUnavailable, unavailableMsg(err)))
		return
	}
	ss.reply(frame.AppendPubAck(buf[:0], p.enc, p.id, off))
}

// drainPubs is the cluster part of a drain, before any 1001: publishes
// are refused from now on (take checks s.draining), the ones taken are
// answered (so no client loses an ack to its close frame), and this node
// has delivered up to the highest offset it acked, so that the fan-out
// barrier after it (FlushContext) covers every acked publication.
func (c *clusterSide) drainPubs(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for c.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d publishes still waiting for the bus: %w", c.inflight.Load(), ctx.Err())
		case <-t.C:
		}
	}
	c.amu.Lock()
	epoch, a := c.ackEpoch, c.ackOff
	c.amu.Unlock()
	if a > 0 && !c.bus.WaitDelivered(ctx, epoch, a) {
		return fmt.Errorf("delivered up to %d of acked %d: %w", c.bus.Delivered(), a, context.Cause(ctx))
	}
	return nil
}

// noteAcked keeps the highest offset acked in the stream's current epoch
// (a stream created again numbers from 1: an older maximum would never be
// delivered).
func (c *clusterSide) noteAcked(off uint64) {
	e := c.bus.Epoch()
	c.amu.Lock()
	if e != c.ackEpoch {
		c.ackEpoch, c.ackOff = e, 0
	}
	c.ackOff = max(c.ackOff, off)
	c.amu.Unlock()
}

// unavailableMsg is the err 503 text for a bus failure (bounded: a reply
// must fit replyMax).
func unavailableMsg(err error) string {
	m := "cluster bus unavailable: " + err.Error()
	if len(m) > 160 {
		m = m[:160]
	}
	return m
}

// apiBusWait bounds an API publish's wait for the bus (which answers
// within its publish timeout): under the API's 30 s write timeout.
const apiBusWait = 25 * time.Second

// publishAPI is Backend.Publish on a cluster node: the same hand-off, and
// the HTTP goroutine waits for the bus's answer (the bus answers within
// its publish timeout; the wait is bounded anyway).
func (c *clusterSide) publishAPI(ch, data []byte, enc frame.Enc) (uint64, error) {
	p, code, msg := c.take(nil, apiKey, ch, data, enc, nil)
	if code != 0 {
		if code == frame.CodeBadChannel {
			code = http.StatusBadRequest
		}
		return 0, &api.Error{Status: code, Msg: msg}
	}
	p.res = make(chan pubResult, 1)
	c.pubq <- p
	t := time.NewTimer(apiBusWait)
	defer t.Stop()
	select {
	case r := <-p.res:
		if r.err != nil {
			return 0, &api.Error{Status: http.StatusServiceUnavailable, Msg: unavailableMsg(r.err)}
		}
		return r.off, nil
	case <-t.C:
		return 0, &api.Error{Status: http.StatusServiceUnavailable, Msg: "cluster bus unavailable: no answer in time"}
	}
}
