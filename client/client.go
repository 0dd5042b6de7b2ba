package client

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Client. The zero value works against an open server.
type Options struct {
	// Token is sent in an auth op as the first message of every connection.
	Token string
	// GetToken, if set, is called for the first connection (when Token is
	// empty), after a 4401 close, and before the token's exp (refresh
	// through the auth op on the live connection).
	GetToken func(ctx context.Context) (string, error)
	// RefreshBefore is how long before the token's exp it is refreshed
	// (default 30 s; a tenth of the remaining lifetime when that is shorter).
	RefreshBefore time.Duration

	Header      http.Header   // extra handshake headers (Origin, cookies)
	DialTimeout time.Duration // TCP connect + handshake; default 10 s

	Backoff Backoff // default DefaultBackoff (0.5 s to 20 s, full jitter)
	// StableAfter: a connection that stays up this long resets the backoff
	// to its first step, so a server that accepts and drops at once still
	// sees the delays grow. Default 5 s.
	StableAfter time.Duration

	// PingInterval: after this much silence (less up to a quarter, drawn
	// each time) the client sends the ping op; PongTimeout later without a
	// frame it reconnects. Defaults 25 s and 10 s.
	PingInterval time.Duration
	PongTimeout  time.Duration

	MaxMessage int // largest message accepted from the server; default 1 MiB

	// OnEvent receives state changes, in order with the messages, from the
	// client's one delivery goroutine (it must not block for long).
	OnEvent func(Event)

	// Rand draws the backoff and ping jitter; it is used by one goroutine
	// only. Default: a PCG seeded from crypto/rand, so clients started
	// together do not draw the same delays.
	Rand *rand.Rand
	// Clock times the waits; default the real clock.
	Clock Clock
}

// Errors the client returns.
var (
	ErrClosed       = errors.New("client: closed")
	ErrConnLost     = errors.New("client: connection lost before the reply (the publish may or may not have happened)")
	ErrSubscribed   = errors.New("client: channel already subscribed")
	ErrUnauthorized = errors.New("client: token refused (4401) with no fresh one to try")
	ErrForbidden    = errors.New("client: disconnected by the server (4403)")
)

// ServerError is an err reply.
type ServerError struct {
	Code int
	Msg  string
}

func (e *ServerError) Error() string { return fmt.Sprintf("server: %d %s", e.Code, e.Msg) }

// Client is one logical connection to a Starling server. Safe for
// concurrent use.
type Client struct {
	url   string
	opts  Options
	clock Clock
	rnd   *rand.Rand // run goroutine only
	disp  *dispatcher

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the client has stopped for good
	err    error         // why; written before done closes

	nextID atomic.Uint64

	mu      sync.Mutex
	subs    map[string]*Subscription
	cur     *conn         // the connection ops go to; nil while there is none
	ready   chan struct{} // closed while cur != nil
	pending map[uint64]*pending
	token   string
}

// pending is an op waiting for its reply on the current connection.
type pending struct {
	sub     *Subscription // a sub's ack updates it
	resumed bool
	reply   chan inbound // other ops: the reply, or a zero inbound when the connection is lost
}

// Connect starts a client for url (ws:// or wss://) and returns at once;
// it connects in the background and keeps reconnecting until Close or a
// refusal it must not retry (see Err).
func Connect(url string, opts Options) (*Client, error) {
	if !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
		return nil, fmt.Errorf("client: url must start with ws:// or wss://, got %q", url)
	}
	opts.Backoff = opts.Backoff.norm()
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.StableAfter <= 0 {
		opts.StableAfter = 5 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = 10 * time.Second
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = 30 * time.Second
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = 1 << 20
	}
	c := &Client{url: url, opts: opts, clock: opts.Clock, rnd: opts.Rand,
		done: make(chan struct{}), subs: map[string]*Subscription{}, ready: make(chan struct{}),
		pending: map[uint64]*pending{}, token: opts.Token}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.rnd == nil {
		c.rnd = newRand()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.disp = newDispatcher(opts.OnEvent)
	go c.run()
	return c, nil
}

// Close stops the client: the connection is closed with 1000 and no
// reconnect follows. It waits until the client has stopped.
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return nil
}

// Done is closed when the client has stopped for good (Close, 4403, or a
// 4401 that a fresh token did not cure).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the client stopped (nil while it runs).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Client) emit(e Event) { c.disp.push(item{ev: &e}, c.ctx.Done()) }

// run is the connection's lifetime: connect, serve, back off, again.
func (c *Client) run() {
	var stop error
	defer func() {
		c.err = stop
		c.failAll()
		e := Event{Kind: Closed, Err: stop}
		var ce *CloseError
		if errors.As(stop, &ce) {
			e.Code, e.Reason = ce.Code, ce.Reason
		}
		c.disp.push(item{ev: &e}, nil)
		close(c.disp.ch)
		close(c.done)
	}()
	attempt, delay := 0, time.Duration(0)
	refused := false // the current token was fetched because of a 4401
	for {
		if c.ctx.Err() != nil {
			stop = ErrClosed
			return
		}
		c.emit(Event{Kind: Connecting, Attempt: attempt, Delay: delay})
		var retryAfter time.Duration
		tok, err := c.tokenForAttempt()
		var cn *conn
		if err == nil {
			ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
			cn, err = dial(ctx, c.url, c.opts.Header, c.opts.DialTimeout, c.opts.MaxMessage)
			cancel()
		}
		code := 0
		if err != nil {
			var de *dialError
			if errors.As(err, &de) {
				retryAfter, code = de.retryAfter, de.status
			}
			if c.ctx.Err() == nil {
				c.emit(Event{Kind: Error, Err: err})
			}
		} else {
			start := c.clock.Now()
			ce, refreshed := c.session(cn, tok)
			code = ce.Code
			if c.ctx.Err() == nil {
				c.emit(Event{Kind: Disconnected, Code: ce.Code, Reason: ce.Reason, Err: ce})
			}
			// A token counts as good once it held a connection StableAfter
			// or a refresh was acknowledged; until then a 4401 after a
			// fresh token is final.
			if stable := c.clock.Now().Sub(start) >= c.opts.StableAfter; stable || refreshed {
				refused = false
				if stable {
					attempt = 0
				}
			}
			err = ce
		}
		switch code {
		case 4403, http.StatusForbidden:
			stop = fmt.Errorf("%w: %w", ErrForbidden, err)
			return
		case 4401, http.StatusUnauthorized:
			if c.opts.GetToken == nil || refused {
				stop = fmt.Errorf("%w: %w", ErrUnauthorized, err)
				return
			}
			refused = true
			c.mu.Lock()
			c.token = "" // fetch a fresh one for the next attempt
			c.mu.Unlock()
		}
		delay = max(c.opts.Backoff.Delay(attempt, c.rnd), retryAfter)
		attempt++
		t := c.clock.NewTimer(delay)
		select {
		case <-t.C():
		case <-c.ctx.Done():
			t.Stop()
		}
	}
}

// tokenForAttempt is the token to authenticate the next connection with,
// from GetToken when there is none yet.
func (c *Client) tokenForAttempt() (string, error) {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	if tok != "" || c.opts.GetToken == nil {
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
	defer cancel()
	tok, err := c.opts.GetToken(ctx)
	if err != nil {
		return "", fmt.Errorf("client: GetToken: %w", err)
	}
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
	return tok, nil
}

// newRand is a client's own jitter source, seeded from crypto/rand: clients
// started in the same instant must not draw the same delays.
func newRand() *rand.Rand {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

// failAll ends every waiter when the client stops.
func (c *Client) failAll() {
	c.mu.Lock()
	subs := c.subs
	c.subs = map[string]*Subscription{}
	c.mu.Unlock()
	for _, s := range subs {
		s.fail(ErrClosed)
	}
}
