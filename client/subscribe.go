package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/starling-ws/starling/frame"
)

// Subscription is one channel's stream. Its position (the last offset
// delivered, and the epoch) is what a reconnect resumes from.
type Subscription struct {
	c       *Client
	ch      string
	handler func(Message)
	closed  atomic.Bool

	mu      sync.Mutex
	last    uint64 // last offset queued for the handler
	epoch   string
	known   bool  // an ack has told the epoch
	dups    int64 // messages dropped as already delivered
	settled chan struct{}
	err     error // why the first sub failed; nil once acknowledged
	once    bool  // settled is closed
}

// Subscribe subscribes to ch and waits for the server's first ack (across
// reconnects, until ctx ends). h gets the channel's messages in offset
// order, each once, from the client's delivery goroutine. The subscription
// lasts until Unsubscribe or Close: every reconnect resumes it.
func (c *Client) Subscribe(ctx context.Context, ch string, h func(Message)) (*Subscription, error) {
	if !frame.ValidChannel([]byte(ch)) {
		return nil, fmt.Errorf("client: invalid channel name %q (1..%d of [A-Za-z0-9_.:@/=-])", ch, frame.MaxChannel)
	}
	s := &Subscription{c: c, ch: ch, handler: h, settled: make(chan struct{})}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, ErrClosed
	default:
	}
	if _, dup := c.subs[ch]; dup {
		c.mu.Unlock()
		return nil, ErrSubscribed
	}
	c.subs[ch] = s
	cn := c.cur
	id := uint64(0)
	if cn != nil {
		id = c.nextID.Add(1)
		c.pending[id] = &pending{sub: s}
	}
	c.mu.Unlock()
	if cn != nil {
		_ = cn.send(outbound{Op: "sub", Ch: ch, ID: id}) // on failure the next connection resubscribes
	}
	select {
	case <-s.settled:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	case <-ctx.Done():
		_ = s.Unsubscribe(context.Background())
		return nil, ctx.Err()
	}
}

// Channel is the subscription's channel.
func (s *Subscription) Channel() string { return s.ch }

// Position is the last offset delivered and its epoch (what a reconnect
// resumes from); ok is false before the first ack.
func (s *Subscription) Position() (off uint64, epoch string, ok bool) { return s.position() }

func (s *Subscription) position() (uint64, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.epoch, s.known && s.epoch != ""
}

// Duplicates is how many messages were dropped because their offset had
// already been delivered.
func (s *Subscription) Duplicates() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// Unsubscribe ends the subscription: no message of the channel reaches the
// handler afterwards. It waits for the server's ack while connected.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	c := s.c
	c.mu.Lock()
	if c.subs[s.ch] == s {
		delete(c.subs, s.ch)
	}
	cn := c.cur
	c.mu.Unlock()
	s.fail(ErrClosed)
	if cn == nil {
		return nil // the next connection does not resubscribe it
	}
	pd, id := c.register(cn, &pending{reply: make(chan inbound, 1)})
	if pd == nil {
		return nil
	}
	if cn.send(outbound{Op: "unsub", Ch: s.ch, ID: id}) != nil {
		c.unregister(id)
		return nil
	}
	select {
	case r := <-pd.reply:
		if r.Op == "err" {
			return &ServerError{Code: r.Code, Msg: r.Msg}
		}
		return nil
	case <-ctx.Done():
		c.unregister(id)
		return ctx.Err()
	}
}

// settle takes a sub's reply (reader goroutine): an ack sets the position
// the stream continues from, before any message it announces is read.
func (s *Subscription) settle(in *inbound, resumed bool) {
	c := s.c
	if in.Op == "err" {
		c.mu.Lock()
		if c.subs[s.ch] == s {
			delete(c.subs, s.ch)
		}
		c.mu.Unlock()
		err := &ServerError{Code: in.Code, Msg: in.Msg}
		s.closed.Store(true)
		s.fail(err)
		c.emit(Event{Kind: Error, Channel: s.ch, Err: fmt.Errorf("client: sub %s: %w", s.ch, err)})
		return
	}
	recovered := resumed && in.Recovered != nil && *in.Recovered
	s.mu.Lock()
	if !recovered {
		// A new stream, or one that lost its history: continue after the
		// ack's offset (the application was told to reload).
		s.last = in.Off
	}
	s.epoch, s.known = in.Epoch, true
	if !s.once {
		s.once = true
		close(s.settled)
	}
	s.mu.Unlock()
	if !s.closed.Load() {
		c.emit(Event{Kind: Subscribed, Channel: s.ch, Offset: in.Off, Epoch: in.Epoch, Resumed: resumed, Recovered: recovered})
	}
}

// fail settles a subscription that never got its first ack.
func (s *Subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.once {
		s.once, s.err = true, err
		close(s.settled)
	}
}

// deliver queues a message for the handler unless it was delivered before
// (reader goroutine).
func (s *Subscription) deliver(in *inbound) {
	s.mu.Lock()
	if in.Off <= s.last {
		s.dups++
		s.mu.Unlock()
		return
	}
	// Offsets only increase: a cluster's are its bus's sequence, shared by
	// every channel, so a jump is no gap (docs/protocol.md). A loss the
	// client must act on is announced by the server (recovered:false).
	s.last = in.Off
	s.mu.Unlock()
	s.c.disp.push(item{msg: Message{Channel: s.ch, Offset: in.Off, Data: in.Data}, sub: s}, s.c.ctx.Done())
}
