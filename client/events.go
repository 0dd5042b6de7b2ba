package client

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// EventKind says what changed.
type EventKind uint8

const (
	Connecting    EventKind = iota + 1 // an attempt starts (Attempt, Delay)
	Connected                          // the connection is up (and authenticated when there is a token)
	Authenticated                      // the server acknowledged an auth op (on connect, and each token refresh)
	Disconnected                       // the connection ended (Code, Reason, Err); a reconnect follows unless Closed does
	Subscribed                         // a sub was acknowledged (Channel, Offset, Epoch, Resumed, Recovered)
	Error                              // something the application may want to know (Err, Channel)
	Closed                             // the client stopped for good (Err: why; ErrClosed after Close)
)

func (k EventKind) String() string {
	switch k {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Authenticated:
		return "authenticated"
	case Disconnected:
		return "disconnected"
	case Subscribed:
		return "subscribed"
	case Error:
		return "error"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is a state change, delivered to Options.OnEvent in order with the
// messages (a channel's Subscribed comes before the messages it announces).
type Event struct {
	Kind EventKind

	Attempt int           // Connecting: attempts since the last stable connection (0 first)
	Delay   time.Duration // Connecting: the backoff waited before this attempt

	Code   int    // Disconnected, Closed: close code (1006: ended without a close frame)
	Reason string // Disconnected, Closed: close reason

	Channel   string // Subscribed, Error
	Offset    uint64 // Subscribed: the channel's offset when the sub was acknowledged
	Epoch     string // Subscribed: the channel's epoch
	Resumed   bool   // Subscribed: the sub asked to resume (carried since)
	Recovered bool   // Subscribed with Resumed: every missed message follows; false: reload state

	Err error
}

// Message is one publication on a subscribed channel.
type Message struct {
	Channel string
	Offset  uint64
	Data    json.RawMessage // the published value, as JSON
}

// item is one thing for the dispatcher: an event or a message.
type item struct {
	ev  *Event
	msg Message
	sub *Subscription
}

// dispatcher calls the application from one goroutine, in queue order. The
// queue is bounded: a reader that finds it full waits (the server then sees
// a slow reader), and says so in blocked so that the pinger does not take
// the silence for a dead connection.
type dispatcher struct {
	ch      chan item
	blocked atomic.Bool
	onEvent func(Event)
	done    chan struct{}
}

const dispatchQueue = 1024

func newDispatcher(onEvent func(Event)) *dispatcher {
	d := &dispatcher{ch: make(chan item, dispatchQueue), onEvent: onEvent, done: make(chan struct{})}
	go d.loop()
	return d
}

func (d *dispatcher) loop() {
	defer close(d.done)
	for it := range d.ch {
		switch {
		case it.ev != nil:
			if d.onEvent != nil {
				d.onEvent(*it.ev)
			}
		case it.sub != nil && !it.sub.closed.Load():
			it.sub.handler(it.msg)
		}
	}
}

// push queues it, waiting while the queue is full unless stop closes.
func (d *dispatcher) push(it item, stop <-chan struct{}) bool {
	select {
	case d.ch <- it:
		return true
	default:
	}
	d.blocked.Store(true)
	defer d.blocked.Store(false)
	select {
	case d.ch <- it:
		return true
	case <-stop:
		return false
	}
}
