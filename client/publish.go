package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/starling-ws/starling/frame"
)

// Publish publishes data (any value encoding/json accepts; a
// json.RawMessage goes as it is) on ch and returns the offset it took. It
// waits for a connection if there is none. A connection lost after the pub
// was written returns ErrConnLost: the publish may or may not have
// happened, and it is not retried (a retry could publish twice).
func (c *Client) Publish(ctx context.Context, ch string, data any) (uint64, error) {
	if !frame.ValidChannel([]byte(ch)) {
		return 0, fmt.Errorf("client: invalid channel name %q", ch)
	}
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return 0, fmt.Errorf("client: publish data: %w", err)
		}
	} else if !json.Valid(raw) {
		return 0, fmt.Errorf("client: publish data: invalid JSON")
	}
	for {
		c.mu.Lock()
		cn, ready := c.cur, c.ready
		c.mu.Unlock()
		if cn == nil {
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-c.done:
				return 0, ErrClosed
			}
		}
		pd, id := c.register(cn, &pending{reply: make(chan inbound, 1)})
		if pd == nil {
			continue // cn went away meanwhile: nothing was sent
		}
		if err := cn.send(outbound{Op: "pub", Ch: ch, ID: id, Data: raw}); err != nil {
			c.unregister(id)
			return 0, fmt.Errorf("%w: %v", ErrConnLost, err)
		}
		select {
		case r := <-pd.reply:
			switch r.Op {
			case "ack":
				return r.Off, nil
			case "err":
				return 0, &ServerError{Code: r.Code, Msg: r.Msg}
			}
			return 0, ErrConnLost
		case <-ctx.Done():
			c.unregister(id)
			return 0, ctx.Err()
		}
	}
}
