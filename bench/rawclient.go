package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wsframe"
)

// rawClient is a blocking WebSocket client for the few connections a
// scenario drives from the parent process itself (the pressure scenario's
// probe, flooder and non-readers): one goroutine each is fine for a
// handful, and it keeps their timing free of the workers' load.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

// dialRaw connects and upgrades; rcvbuf > 0 shrinks the socket's receive
// buffer first (a client that never reads then fills quickly).
func dialRaw(addr, path string, rcvbuf int, timeout time.Duration) (*rawClient, error) {
	d := net.Dialer{Timeout: timeout}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rawClient{c: c, br: bufio.NewReaderSize(c, 16<<10)}
	c.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: c3RhcmxpbmctYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	status, err := rc.br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !bytes.HasPrefix([]byte(status), []byte("HTTP/1.1 101")) {
		c.Close()
		return nil, fmt.Errorf("upgrade refused: %q", bytes.TrimSpace([]byte(status)))
	}
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return rc, nil
}

// sendJSON writes one JSON op as a masked text frame.
func (rc *rawClient) sendJSON(v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = rc.c.Write(wsframe.AppendClient(nil, ws.OpText, true, p))
	return err
}

// next reads one frame: its opcode and payload. A ping is answered.
func (rc *rawClient) next() (ws.OpCode, []byte, error) {
	for {
		var hb [14]byte
		if _, err := io.ReadFull(rc.br, hb[:2]); err != nil {
			return 0, nil, err
		}
		n := 2
		switch hb[1] & 0x7f {
		case 126:
			n += 2
		case 127:
			n += 8
		}
		if _, err := io.ReadFull(rc.br, hb[2:n]); err != nil {
			return 0, nil, err
		}
		h, ok := wsframe.ParseHeader(hb[:n])
		if !ok {
			return 0, nil, fmt.Errorf("bad frame header %x", hb[:n])
		}
		p := make([]byte, h.Len)
		if _, err := io.ReadFull(rc.br, p); err != nil {
			return 0, nil, err
		}
		if h.Op == ws.OpPing {
			rc.c.Write(wsframe.AppendClient(nil, ws.OpPong, true, p))
			continue
		}
		return h.Op, p, nil
	}
}

// nextJSON reads frames until a text one and decodes it (a close frame is
// returned as an error naming its code).
func (rc *rawClient) nextJSON() (map[string]any, error) {
	for {
		op, p, err := rc.next()
		if err != nil {
			return nil, err
		}
		switch op {
		case ws.OpText:
			var m map[string]any
			return m, json.Unmarshal(p, &m)
		case ws.OpClose:
			code := 1005
			if len(p) >= 2 {
				code = int(p[0])<<8 | int(p[1])
			}
			return nil, &closedError{code: code, reason: string(p[min(2, len(p)):])}
		}
	}
}

type closedError struct {
	code   int
	reason string
}

func (e *closedError) Error() string { return fmt.Sprintf("closed %d %q", e.code, e.reason) }

func (rc *rawClient) close() { rc.c.Close() }

// portOf is the port of a host:port address (0 if it has none).
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n := 0
	fmt.Sscan(p, &n)
	return n
}
