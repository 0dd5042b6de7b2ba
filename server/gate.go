package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

// The gate at the handshake (issue 10). Everything here runs once per
// connection on the event loop that owns it, before the 101: the accept
// bucket in OnOpen, before a byte of the request is read; then, once the
// request head is complete and while its spans are still valid, the
// Origin, the client address (one getpeername, only when proxies or the
// per-address cap need it), the per-address slot and the token in the
// header or query. Nothing here runs per message; the session keeps the
// verdicts (grant, authAt, ip).

// openGrant is every session's grant on a server without tokens.
var openGrant = gate.OpenGrant()

// Refusals the gate sends. The 401s name the failed check in the body,
// the 503s carry a Retry-After drawn per response (prebuilt for every
// value up to gate.DefaultMaxRetryAfter, so a storm of refusals allocates
// nothing).
var (
	rejBadRequest = &frame.Reject{Status: 400, Reason: "bad_request"}
	rejTooLarge   = &frame.Reject{Status: 431, Reason: "too_large"}
	respForbidden = frame.AppendReject(nil, &frame.Reject{Status: 403, Reason: "origin not allowed"})
	respTooMany   = frame.AppendReject(nil, &frame.Reject{Status: 429, Reason: "too many connections from this address (-max-conns-per-ip)"})
	respBadToken  [len(AuthChecks)][]byte
	respRated     [gate.DefaultMaxRetryAfter + 1][]byte
)

func init() {
	for te := range respBadToken {
		if te != 0 {
			respBadToken[te] = appendRefusal(nil, &frame.Reject{Status: 401, Reason: gate.TokenError(te).Error()},
				`WWW-Authenticate: Bearer error="invalid_token"`)
		}
	}
	for ra := 1; ra < len(respRated); ra++ {
		respRated[ra] = rateRefusal(ra)
	}
}

func rateRefusal(retryAfter int) []byte {
	return appendRefusal(nil, &frame.Reject{Status: 503, Reason: "rate limited: retry later"}, "Retry-After: "+strconv.Itoa(retryAfter))
}

// appendRefusal is frame.AppendReject with extra header lines (without
// their CRLF) after the status line.
func appendRefusal(dst []byte, rej *frame.Reject, headers ...string) []byte {
	var tmp [256]byte
	r := frame.AppendReject(tmp[:0], rej)
	i := bytes.IndexByte(r, '\n') + 1
	dst = append(dst, r[:i]...)
	for _, h := range headers {
		dst = append(append(dst, h...), "\r\n"...)
	}
	return append(dst, r[i:]...)
}

// admitRate takes a token from the accept bucket; without one, the
// connection is answered 503 at once. Only the session exists by then: it
// carries the refusal's wheel entry (the close grace), which a lingering
// close needs so that the client reads the 503 instead of a reset. It
// reports whether the connection may go on.
func (s *Server) admitRate(ss *session) bool {
	if s.cfg.AcceptRate == nil {
		return true
	}
	ra := s.cfg.AcceptRate.Admit(s.cfg.Now())
	if ra == 0 {
		return true
	}
	resp := rateRefusal(ra)
	if ra < len(respRated) {
		resp = respRated[ra]
	}
	s.refuse(ss, rejRateLimited, resp, nil)
	return false
}

// proxyHeader is what a PROXY protocol header in front of the request
// said: present, and the client address it names (invalid for a LOCAL
// command or an address family without one).
type proxyHeader struct {
	present bool
	src     netip.Addr
}

// parseRequest parses the request head at the start of req, behind a
// PROXY protocol header when trusted proxies are configured (the header
// may be split over reads like the request). It returns the length of
// both together, 0 while incomplete.
func (s *Server) parseRequest(req []byte, u *frame.Upgrade, px *proxyHeader) (int, *frame.Reject) {
	if s.cfg.Proxies != nil {
		pn, src, err := gate.ParseProxyHeader(req)
		switch {
		case errors.Is(err, gate.ErrNoProxyHeader):
		case err != nil:
			return 0, rejBadRequest
		case pn == 0:
			if len(req) >= frame.MaxRequest {
				return 0, rejTooLarge
			}
			return 0, nil
		default:
			*px = proxyHeader{present: true, src: src}
			n, rej := frame.ParseUpgrade(req[pn:], s.cfg.Path, u)
			if n == 0 {
				return 0, rej
			}
			return pn + n, nil
		}
	}
	return frame.ParseUpgrade(req, s.cfg.Path, u)
}

// gateUpgrade applies the gate to an accepted request while u's spans are
// valid. It reports false when it refused the connection (an HTTP error is
// on its way); otherwise the session holds its verdicts.
func (s *Server) gateUpgrade(ss *session, u *frame.Upgrade, px proxyHeader) bool {
	if !s.cfg.Origins.Allow(u.Origin) {
		s.refuse(ss, rejForbidden, respForbidden, nil)
		return false
	}
	if s.cfg.Proxies != nil || s.cfg.PerIP != nil {
		client, err := s.clientAddr(ss, u, px)
		if err != nil { // an untrusted PROXY header, an unreadable trusted hop, a socket already gone
			s.reject(ss, rejBadRequest, nil)
			return false
		}
		slot, ok := s.cfg.PerIP.Acquire(client)
		if !ok {
			s.refuse(ss, rejTooMany, respTooMany, nil)
			return false
		}
		ss.ip = slot // released by OnClose, whatever happens next
	}
	return s.gateToken(ss, u)
}

// errUntrustedProxy: a PROXY header from a peer not in -trusted-proxies.
var errUntrustedProxy = errors.New("PROXY protocol header from an untrusted peer")

// clientAddr is the address the per-address cap counts: the peer's, or
// what a trusted proxy says (a PROXY header's source, then the last
// untrusted X-Forwarded-For hop when that source is itself trusted).
func (s *Server) clientAddr(ss *session, u *frame.Upgrade, px proxyHeader) (netip.Addr, error) {
	peer, err := peerAddr(ss.pc.Fd())
	if err != nil {
		return netip.Addr{}, err
	}
	if px.present {
		if !s.cfg.Proxies.Trusted(peer) {
			return netip.Addr{}, errUntrustedProxy
		}
		if px.src.IsValid() {
			peer = px.src
		}
	}
	return s.cfg.Proxies.ClientFromXFF(peer, u.ForwardedFor.All())
}

// peerAddr is the socket's remote address: one getpeername(2) per
// connection, and only when the gate needs it.
func peerAddr(fd int) (netip.Addr, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("getpeername: %w", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr), nil
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("getpeername: address family %T", sa)
}

// gateToken verifies a token the request carries (Authorization: Bearer,
// then the token query parameter). Without one, the connection opens
// unauthenticated and must send an auth op within -auth-timeout; with a
// bad one it is refused 401.
func (s *Server) gateToken(ss *session, u *frame.Upgrade) bool {
	if s.cfg.Tokens == nil {
		ss.grant.Store(openGrant)
		return true
	}
	tok, ok := gate.BearerToken(u.Authorization)
	if !ok {
		tok, ok = gate.QueryToken(u.Query)
	}
	if !ok {
		ss.authAt.Store(s.now() + s.tAuth)
		return true
	}
	g, err := s.cfg.Tokens.Verify(tok)
	fd := ss.pc.Fd()
	if err != nil {
		check := authCheck(err)
		s.st.authFail[check].add(fd, 1)
		s.refuse(ss, rejUnauthorized, respBadToken[check], nil)
		return false
	}
	s.st.authOK.add(fd, 1)
	s.setGrant(ss, g)
	return true
}
