package client

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// inbound is any server frame the client reads (JSON).
type inbound struct {
	Op        string          `json:"op"`
	ID        *uint64         `json:"id"`
	Ch        string          `json:"ch"`
	Off       uint64          `json:"off"`
	Epoch     string          `json:"epoch"`
	Recovered *bool           `json:"recovered"`
	Data      json.RawMessage `json:"data"`
	Code      int             `json:"code"`
	Msg       string          `json:"msg"`
}

// outbound is any op the client sends.
type outbound struct {
	Op    string          `json:"op"`
	Ch    string          `json:"ch,omitempty"`
	ID    uint64          `json:"id,omitempty"`
	Since *since          `json:"since,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Token string          `json:"token,omitempty"`
}

type since struct {
	Off   uint64 `json:"off"`
	Epoch string `json:"epoch"`
}

// closeGrace is how long Close waits for the server's answer to its close.
const closeGrace = time.Second

// session serves one connection until it ends: auth, resubscribe, then
// liveness and token refresh while the reader goroutine handles frames. It
// returns how the connection ended, and whether a token refresh was
// acknowledged on it.
func (c *Client) session(cn *conn, tok string) (ce *CloseError, refreshed bool) {
	var lastRecv atomic.Int64       // c.clock's UnixNano of the last frame read
	recvd := make(chan struct{}, 1) // a frame arrived: wakes the loop while a ping is out
	touch := func() {
		lastRecv.Store(c.clock.Now().UnixNano())
		select {
		case recvd <- struct{}{}:
		default:
		}
	}
	touch()
	readerDone := make(chan struct{})
	var readErr *CloseError
	go func() {
		defer close(readerDone)
		readErr = cn.read(c.handle, touch)
	}()
	defer func() {
		c.detach()
		_ = cn.nc.Close()
		<-readerDone
	}()
	closed := &CloseError{Code: 1000, Reason: "client closed"}

	if tok != "" {
		pd, id := c.register(nil, &pending{reply: make(chan inbound, 1)})
		_ = cn.send(outbound{Op: "auth", Token: tok, ID: id})
		t := c.clock.NewTimer(c.opts.PongTimeout)
		select {
		case r := <-pd.reply:
			t.Stop()
			if r.Op != "ack" {
				return &CloseError{Code: 1006, Reason: "auth refused: " + r.Msg}, false
			}
			c.emit(Event{Kind: Authenticated})
		case <-readerDone:
			t.Stop()
			return readErr, false
		case <-t.C():
			return &CloseError{Code: 1006, Reason: "auth not acknowledged within PongTimeout"}, false
		case <-c.ctx.Done():
			t.Stop()
			cn.close(ws.StatusNormalClosure, readerDone, closeGrace)
			return closed, false
		}
	}
	c.emit(Event{Kind: Connected})
	c.attach(cn)

	interval := c.pingWait()
	var pingAt time.Time // zero: no ping outstanding
	ref := c.newRefresher(tok)
	defer ref.stop()
	for {
		now := c.clock.Now()
		if c.disp.blocked.Load() {
			touch() // the application is slow, not the connection
		}
		last := time.Unix(0, lastRecv.Load())
		if !pingAt.IsZero() && !last.Before(pingAt) {
			pingAt, interval = time.Time{}, c.pingWait()
		}
		var wait time.Duration
		if pingAt.IsZero() {
			if wait = last.Add(interval).Sub(now); wait <= 0 {
				select { // only frames after the ping count as its answer
				case <-recvd:
				default:
				}
				_ = cn.send(outbound{Op: "ping"})
				pingAt = now
				continue
			}
		} else if wait = pingAt.Add(c.opts.PongTimeout).Sub(now); wait <= 0 {
			return &CloseError{Code: 1006, Reason: "no pong within PongTimeout"}, refreshed
		}
		var pong <-chan struct{}
		if !pingAt.IsZero() {
			pong = recvd
		}
		t := c.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-pong:
			t.Stop()
		case <-readerDone:
			t.Stop()
			return readErr, refreshed
		case <-c.ctx.Done():
			t.Stop()
			cn.close(ws.StatusNormalClosure, readerDone, closeGrace)
			return closed, refreshed
		case <-ref.due():
			t.Stop()
			ref.fetch(c)
		case r := <-ref.fetched:
			t.Stop()
			ref.send(c, cn, r)
		case r := <-ref.acked():
			t.Stop()
			if ref.done(c, r) {
				refreshed = true
			}
		}
	}
}

// pingWait is the silence after which the next ping goes out: the
// interval less up to a quarter, so that clients that connected together
// do not ping together.
func (c *Client) pingWait() time.Duration {
	i := c.opts.PingInterval
	return i - time.Duration(c.rnd.Int64N(int64(i/4)+1))
}

// register adds an op waiting for its reply; with cn set, only if cn is
// still the current connection.
func (c *Client) register(cn *conn, pd *pending) (*pending, uint64) {
	id := c.nextID.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn != nil && c.cur != cn {
		return nil, 0
	}
	c.pending[id] = pd
	return pd, id
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// attach makes cn the connection for ops and resubscribes every channel,
// with since where a position is known.
func (c *Client) attach(cn *conn) {
	var subs []outbound
	c.mu.Lock()
	c.cur = cn
	close(c.ready)
	for ch, s := range c.subs {
		id := c.nextID.Add(1)
		op := outbound{Op: "sub", Ch: ch, ID: id}
		if off, epoch, ok := s.position(); ok {
			op.Since = &since{Off: off, Epoch: epoch}
		}
		c.pending[id] = &pending{sub: s, resumed: op.Since != nil}
		subs = append(subs, op)
	}
	c.mu.Unlock()
	for _, op := range subs {
		if cn.send(op) != nil {
			return // the reader sees the end; the next connection resubscribes
		}
	}
}

// detach ends the current connection's ops: replies that will never come
// fail (subs are sent again on the next connection).
func (c *Client) detach() {
	c.mu.Lock()
	c.cur = nil
	c.ready = make(chan struct{})
	lost := c.pending
	c.pending = map[uint64]*pending{}
	c.mu.Unlock()
	for _, pd := range lost {
		if pd.reply != nil {
			pd.reply <- inbound{}
		}
	}
}

// handle acts on one server message (reader goroutine).
func (c *Client) handle(p []byte) {
	var in inbound
	if err := json.Unmarshal(p, &in); err != nil {
		return // not JSON (the client never asks for MessagePack)
	}
	switch in.Op {
	case "msg":
		c.mu.Lock()
		s := c.subs[in.Ch]
		c.mu.Unlock()
		if s != nil {
			s.deliver(&in)
		}
	case "ack", "err", "pong":
		if in.ID == nil {
			return
		}
		c.mu.Lock()
		pd := c.pending[*in.ID]
		delete(c.pending, *in.ID)
		c.mu.Unlock()
		switch {
		case pd == nil:
		case pd.sub != nil:
			pd.sub.settle(&in, pd.resumed)
		default:
			pd.reply <- in
		}
	}
}
