package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// tokenExp reads the exp claim of a JWT without verifying it (the client
// cannot, and needs only to know when to ask for the next one).
func tokenExp(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(*claims.Exp*1e9)), true
}

type tokenResult struct {
	tok string
	err error
}

// refresher renews the token of a live connection before its exp: GetToken
// in its own goroutine, then an auth op, then the ack. All its methods run
// on the session's goroutine.
type refresher struct {
	timer   Timer            // nil: nothing scheduled
	fetched chan tokenResult // GetToken's answer
	ack     chan inbound     // the auth op's reply; nil: none outstanding
	tok     string           // the token the outstanding auth op carries
}

func (c *Client) newRefresher(tok string) *refresher {
	r := &refresher{fetched: make(chan tokenResult, 1)}
	if c.opts.GetToken != nil {
		r.schedule(c, tok)
	}
	return r
}

// schedule arms the timer for tok's refresh: RefreshBefore its exp, or a
// tenth of its remaining life when that is shorter, less up to half that
// lead again (drawn), so that clients holding tokens from the same batch do
// not all ask at once.
func (r *refresher) schedule(c *Client, tok string) {
	exp, ok := tokenExp(tok)
	if !ok {
		return
	}
	left := exp.Sub(c.clock.Now())
	lead := min(c.opts.RefreshBefore, left/10)
	if lead > 0 {
		lead += time.Duration(c.rnd.Int64N(int64(lead/2) + 1))
	}
	r.after(c, max(left-lead, time.Second))
}

func (r *refresher) after(c *Client, d time.Duration) {
	r.stop()
	r.timer = c.clock.NewTimer(d)
}

func (r *refresher) due() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C()
}

func (r *refresher) acked() <-chan inbound { return r.ack }

func (r *refresher) stop() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// fetch asks GetToken in the background; a token it returns is also what
// the next connection will use, whatever becomes of this one.
func (r *refresher) fetch(c *Client) {
	r.timer = nil
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
		defer cancel()
		tok, err := c.opts.GetToken(ctx)
		if err == nil && tok != "" {
			c.mu.Lock()
			c.token = tok
			c.mu.Unlock()
		}
		r.fetched <- tokenResult{tok, err}
	}()
}

// send carries a fetched token to the server in an auth op.
func (r *refresher) send(c *Client, cn *conn, res tokenResult) {
	if res.err != nil || res.tok == "" {
		c.emit(Event{Kind: Error, Err: fmt.Errorf("client: token refresh: GetToken: %v", res.err)})
		r.after(c, 5*time.Second)
		return
	}
	pd, id := c.register(cn, &pending{reply: make(chan inbound, 1)})
	if pd == nil {
		return
	}
	r.ack, r.tok = pd.reply, res.tok
	if err := cn.send(outbound{Op: "auth", Token: res.tok, ID: id}); err != nil {
		c.unregister(id)
		r.ack = nil
	}
}

// done takes the auth op's reply; true when the server acknowledged it.
func (r *refresher) done(c *Client, in inbound) bool {
	r.ack = nil
	switch in.Op {
	case "ack":
		c.emit(Event{Kind: Authenticated})
		r.schedule(c, r.tok)
		return true
	case "err":
		c.emit(Event{Kind: Error, Err: fmt.Errorf("client: token refresh: %w", &ServerError{Code: in.Code, Msg: in.Msg})})
	}
	return false
}
