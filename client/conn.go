package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wsframe"
)

// conn is one WebSocket connection: gobwas/ws for the handshake and frame
// headers, internal/wsframe for the masked frames it writes (the framer the
// bench clients share).
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	maxMsg int

	wmu  sync.Mutex // serializes writes; held across the write only
	wbuf []byte
}

// writeTimeout bounds one frame write: a peer that does not read for this
// long is gone as far as the client is concerned.
const writeTimeout = 10 * time.Second

// dialError is a failed handshake; status is the HTTP status of a refusal
// (0 for a network error) and retryAfter the server's Retry-After.
type dialError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func dial(ctx context.Context, url string, hdr http.Header, timeout time.Duration, maxMsg int) (*conn, error) {
	var retryAfter time.Duration
	d := ws.Dialer{
		Timeout: timeout,
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			if r, err := http.ReadResponse(bufio.NewReader(io.LimitReader(resp, 8<<10)), nil); err == nil {
				if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil && s > 0 {
					retryAfter = time.Duration(min(s, 3600)) * time.Second
				}
			}
		},
	}
	if len(hdr) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(hdr)
	}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		var se ws.StatusError
		status := 0
		if errors.As(err, &se) {
			status = int(se)
		}
		return nil, &dialError{status: status, retryAfter: retryAfter, err: fmt.Errorf("dial %s: %w", url, err)}
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 16<<10)
	}
	return &conn{nc: nc, br: br, maxMsg: maxMsg}, nil
}

// write sends one masked frame.
func (c *conn) write(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wsframe.AppendClient(c.wbuf[:0], op, true, p)
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil
	}
	return err
}

// send writes v as a JSON text message.
func (c *conn) send(v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(ws.OpText, p)
}

// CloseError is a close frame from the server (or 1006 when the connection
// ended without one).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed with %d", e.Code)
	}
	return fmt.Sprintf("closed with %d: %s", e.Code, e.Reason)
}

// read delivers every text message to handle until the connection ends; it
// answers pings and the server's close. It always returns a *CloseError.
func (c *conn) read(handle func(p []byte), touch func()) *CloseError {
	var msg []byte
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return &CloseError{Code: 1006, Reason: err.Error()}
		}
		if h.Length > int64(c.maxMsg) || int64(len(msg))+h.Length > int64(c.maxMsg) {
			_ = c.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusMessageTooBig, ""))
			return &CloseError{Code: 1009, Reason: "message over MaxMessage"}
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return &CloseError{Code: 1006, Reason: err.Error()}
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		touch()
		switch h.OpCode {
		case ws.OpPing:
			_ = c.write(ws.OpPong, p)
		case ws.OpPong:
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			echo := p[:min(len(p), 2)]
			_ = c.write(ws.OpClose, echo)
			if code == 0 {
				code = ws.StatusNoStatusRcvd
			}
			return &CloseError{Code: int(code), Reason: reason}
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if h.OpCode != ws.OpContinuation {
				msg = msg[:0]
			}
			if !h.Fin {
				msg = append(msg, p...)
				continue
			}
			if len(msg) > 0 {
				p = append(msg, p...)
				msg = msg[:0]
			}
			handle(p)
		}
	}
}

// close sends a close frame with code, then ends the TCP connection once
// the reader has seen the server's answer or after grace.
func (c *conn) close(code ws.StatusCode, readerDone <-chan struct{}, grace time.Duration) {
	_ = c.write(ws.OpClose, ws.NewCloseFrameBody(code, ""))
	select {
	case <-readerDone:
	case <-time.After(grace):
	}
	_ = c.nc.Close()
}
