package gate

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Proxies is the set of trusted proxy networks (-trusted-proxies). Only a
// peer inside it may tell us the client's address (PROXY protocol header
// or X-Forwarded-For); anyone else's claims are ignored. The list comes
// from configuration, so a linear scan is bounded by what the operator
// wrote (typically a handful of CIDRs).
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies parses a comma-separated list of CIDRs or bare addresses
// (a bare address is a /32 or /128). Errors name the flag.
func ParseProxies(list string) (*Proxies, error) {
	p := &Proxies{}
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var pfx netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			pfx, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q: %w", s, err)
		}
		// An IPv4 CIDR must also match peers seen as IPv4-mapped IPv6
		// (a dual-stack listener); peers are unmapped before matching.
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		p.nets = append(p.nets, pfx.Masked())
	}
	return p, nil
}

// Trusted reports whether peer is a trusted proxy. A nil *Proxies trusts
// nobody.
func (p *Proxies) Trusted(peer netip.Addr) bool {
	if p == nil {
		return false
	}
	peer = peer.Unmap()
	for _, n := range p.nets {
		if n.Contains(peer) {
			return true
		}
	}
	return false
}

// ErrForwarded is returned when a trusted hop of X-Forwarded-For is not
// an address: a proxy we trust wrote something we cannot read, so no
// client address can be vouched for (the server answers 400).
var ErrForwarded = errors.New("X-Forwarded-For: unreadable hop")

// ClientFromXFF returns the client address for a request from peer
// carrying X-Forwarded-For values (the raw header values, in the order
// they appeared). If peer is not trusted, the header is ignored and peer
// is the client. Otherwise the hops are read right to left (the nearest
// proxy appends last) and the first hop that is not a trusted proxy is the
// client: everything left of it was written by that client and cannot be
// believed. If every hop is trusted, the leftmost is returned. Hops may
// carry a port ("1.2.3.4:5678", "[2001:db8::1]:443"), which is dropped.
// The result is unmapped (::ffff:1.2.3.4 is 1.2.3.4).
func (p *Proxies) ClientFromXFF(peer netip.Addr, values [][]byte) (netip.Addr, error) {
	peer = peer.Unmap()
	if !p.Trusted(peer) {
		return peer, nil
	}
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			var hop []byte
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				hop, v = v, nil
			}
			a, err := parseHop(bytes.Trim(hop, " \t"))
			if err != nil {
				return netip.Addr{}, err
			}
			client = a
			if !p.Trusted(a) {
				return a, nil
			}
		}
	}
	return client, nil
}

// parseHop reads one X-Forwarded-For element: an address, optionally
// with a port (IPv6 then in brackets).
func parseHop(h []byte) (netip.Addr, error) {
	if len(h) == 0 || len(h) > 64 {
		return netip.Addr{}, ErrForwarded
	}
	s := h
	if s[0] == '[' {
		end := bytes.IndexByte(s, ']')
		if end < 0 || (end+1 < len(s) && s[end+1] != ':') {
			return netip.Addr{}, ErrForwarded
		}
		s = s[1:end]
	} else if i := bytes.IndexByte(s, ':'); i >= 0 && bytes.Count(s, []byte{':'}) == 1 {
		s = s[:i] // IPv4 with a port; a bare IPv6 has several colons
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, ErrForwarded
	}
	return a.Unmap(), nil
}
