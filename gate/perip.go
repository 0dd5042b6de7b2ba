package gate

import (
	"fmt"
	"net/netip"
	"sync"
)

// PerIP caps open connections per client address (-max-conns-per-ip).
// The table holds one entry per address that has at least one open
// connection and deletes it when the count returns to zero, so it is
// bounded by the open connections (which -max-conns bounds), however many
// addresses come and go.
//
// IPv6 addresses are counted per prefix (v6Bits, typically 64): a single
// host is routinely given a whole /64, and counting each address would let
// it open a cap's worth of connections from each of 2^64 addresses.
//
// Lock: mu is a leaf held for one map operation; it is never held across a
// syscall, so event loops may call Acquire/Release directly.
type PerIP struct {
	mu     sync.Mutex
	max    int32
	v6Bits int
	m      map[netip.Addr]*IPSlot
}

// IPSlot is the handle Acquire returns and the session keeps (one
// pointer): the table entry itself, shared by every connection from the
// address, so holding it costs no allocation per connection.
type IPSlot struct {
	key netip.Addr
	n   int32 // open connections; guarded by PerIP.mu
}

// Addr is the counted key: the address, or its IPv6 prefix's first
// address.
func (s *IPSlot) Addr() netip.Addr { return s.key }

// NewPerIP returns a cap of max connections per address (0: no cap; a
// nil *PerIP also admits everyone) with IPv6 grouped by v6Bits (1..128).
func NewPerIP(max, v6Bits int) (*PerIP, error) {
	switch {
	case max < 0 || max > 1<<30:
		return nil, fmt.Errorf("-max-conns-per-ip must be in [0, 2^30], got %d", max)
	case v6Bits < 1 || v6Bits > 128:
		return nil, fmt.Errorf("IPv6 prefix length must be in [1, 128], got %d", v6Bits)
	}
	return &PerIP{max: int32(max), v6Bits: v6Bits, m: make(map[netip.Addr]*IPSlot)}, nil
}

// Acquire counts a connection from a. ok is false when a is at the cap
// (answer 429; nothing to release). With the cap off it returns (nil,
// true), and Release(nil) does nothing. Call Release exactly once for each
// successful Acquire.
func (p *PerIP) Acquire(a netip.Addr) (s *IPSlot, ok bool) {
	if p == nil || p.max == 0 {
		return nil, true
	}
	k := p.key(a)
	p.mu.Lock()
	s = p.m[k]
	switch {
	case s == nil:
		s = &IPSlot{key: k}
		p.m[k] = s
	case s.n >= p.max:
		p.mu.Unlock()
		return nil, false
	}
	s.n++
	p.mu.Unlock()
	return s, true
}

// Release uncounts a connection; the entry goes when its count is zero.
func (p *PerIP) Release(s *IPSlot) {
	if s == nil {
		return
	}
	p.mu.Lock()
	if s.n--; s.n <= 0 && p.m[s.key] == s {
		delete(p.m, s.key)
	}
	p.mu.Unlock()
}

// Count is the number of open connections counted for a's key.
func (p *PerIP) Count(a netip.Addr) int {
	if p == nil || p.max == 0 {
		return 0
	}
	k := p.key(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.m[k]; s != nil {
		return int(s.n)
	}
	return 0
}

// Len is the number of addresses with open connections.
func (p *PerIP) Len() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// key unmaps IPv4-in-IPv6, drops any zone and masks IPv6 to the prefix.
func (p *PerIP) key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() && p.v6Bits < 128 {
		pfx, _ := a.Prefix(p.v6Bits)
		return pfx.Addr()
	}
	return a
}
