package client

import (
	"math/rand/v2"
	"net"
)

// LocalAddr is the current connection's local address (nil while there is
// none), so that a test can spare this client when it cuts the others.
func LocalAddr(c *Client) net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.nc.LocalAddr()
}

// NewRand is the default jitter source of a new client.
func NewRand() *rand.Rand { return newRand() }
