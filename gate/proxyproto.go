package gate

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/pires/go-proxyproto"
)

// ErrNoProxyHeader: the bytes do not begin with a PROXY protocol
// signature. From a peer that must send one, the connection is refused.
var ErrNoProxyHeader = errors.New("proxy protocol: no header")

// Limits of the two header forms: a v1 line is at most 107 bytes (spec
// 2.1); a v2 header is 16 bytes plus its length field, which we bound by
// the library's MaxV2HeaderSize (4 KiB, room for TLVs such as an AWS VPC
// endpoint id or a TLS client certificate).
const (
	proxyV1Max   = 107
	proxyV2Fixed = 16
)

// proxyReaders recycles the bufio.Reader go-proxyproto reads from: the
// library parses from a *bufio.Reader, and a fresh one is 4 KiB.
var proxyReaders = sync.Pool{New: func() any {
	r := new(proxyReader)
	r.br = bufio.NewReader(&r.src)
	return r
}}

type proxyReader struct {
	src bytes.Reader
	br  *bufio.Reader
}

// ParseProxyHeader reads a PROXY protocol v1 or v2 header at the start of
// b, the bytes received so far from a trusted proxy; the header may be
// split over reads, so call it again with more bytes until it decides:
//
//   - n == 0, err == nil: incomplete, need more bytes;
//   - n > 0, err == nil: done, the header is b[:n] and what follows is the
//     proxied stream (the HTTP upgrade request); src is the client address,
//     or the zero Addr when the header carries none (a LOCAL command, e.g. a
//     proxy health check, UNKNOWN/UNSPEC, or a Unix socket): use the peer's;
//   - err != nil: not a header (ErrNoProxyHeader) or a malformed one.
//
// This function only frames the header (so that "need more" is decided
// without the library, whose reader would block or fail on a partial
// header); github.com/pires/go-proxyproto parses and validates it.
func ParseProxyHeader(b []byte) (n int, src netip.Addr, err error) {
	n, err = proxyHeaderLen(b)
	if n == 0 || err != nil {
		return 0, netip.Addr{}, err
	}
	r := proxyReaders.Get().(*proxyReader)
	r.src.Reset(b[:n])
	r.br.Reset(&r.src)
	h, err := proxyproto.Read(r.br)
	r.src.Reset(nil)
	proxyReaders.Put(r)
	if err != nil {
		return 0, netip.Addr{}, fmt.Errorf("proxy protocol: %w", err)
	}
	if h.Command.IsLocal() {
		return n, netip.Addr{}, nil
	}
	switch a := h.SourceAddr.(type) {
	case *net.TCPAddr:
		src, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		src, _ = netip.AddrFromSlice(a.IP)
	}
	return n, src.Unmap(), nil
}

// proxyHeaderLen returns the length of the complete header at the start
// of b, 0 if more bytes are needed, or an error.
func proxyHeaderLen(b []byte) (int, error) {
	sig1, sig2 := proxyproto.SIGV1, proxyproto.SIGV2
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0] == sig1[0]:
		if more, err := hasSig(b, sig1); more || err != nil {
			return 0, err
		}
		i := bytes.IndexByte(b[:min(len(b), proxyV1Max)], '\n')
		switch {
		case i >= 0:
			return i + 1, nil
		case len(b) >= proxyV1Max:
			return 0, fmt.Errorf("proxy protocol: %w", proxyproto.ErrVersion1HeaderTooLong)
		}
		return 0, nil
	case b[0] == sig2[0]:
		if more, err := hasSig(b, sig2); more || err != nil || len(b) < proxyV2Fixed {
			return 0, err
		}
		l := binary.BigEndian.Uint16(b[14:16])
		if l > proxyproto.MaxV2HeaderSize {
			return 0, fmt.Errorf("proxy protocol: %w", proxyproto.ErrInvalidLength)
		}
		if len(b) < proxyV2Fixed+int(l) {
			return 0, nil
		}
		return proxyV2Fixed + int(l), nil
	}
	return 0, ErrNoProxyHeader
}

// hasSig checks b against a signature: more when b is a proper prefix of
// it (wait), ErrNoProxyHeader when they differ.
func hasSig(b, sig []byte) (more bool, err error) {
	if len(b) < len(sig) {
		if bytes.HasPrefix(sig, b) {
			return true, nil
		}
		return false, ErrNoProxyHeader
	}
	if !bytes.HasPrefix(b, sig) {
		return false, ErrNoProxyHeader
	}
	return false, nil
}
