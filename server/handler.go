package server

import (
	"math/rand/v2"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/poller"
)

// OnOpen registers a freshly accepted connection with its handshake
// deadline. Beyond -accept-rate (the accept bucket, asked before anything
// of the request is read), or beyond -max-handshakes connections still in
// their handshake, a new one is answered 503 at once and holds nothing but
// its session until the response is written.
func (s *Server) OnOpen(c *poller.Conn) {
	now := s.now()
	ss := &session{pc: c, srv: s, opened: now}
	ss.lastSeen.Store(now)
	c.Ctx = ss
	defer func() {
		if v := recover(); v != nil {
			s.contain(ss, "OnOpen", v)
		}
	}()
	n := s.handshaking.Add(1)
	s.hub.Add(&ss.link, c, now+s.tHandshake)
	if !s.admitRate(ss) {
		return
	}
	if n > int64(s.cfg.MaxHandshakes) {
		s.limitLog.hit("handshaking connections at -max-handshakes")
		s.reject(ss, rejBusy, nil)
	}
}

// rejBusy answers a connection beyond -max-handshakes.
var rejBusy = &frame.Reject{Status: 503, Reason: "busy"}

// OnData runs a connection's bytes through the handshake or the frame
// decoder. b belongs to the engine and is unmasked in place.
func (s *Server) OnData(c *poller.Conn, b []byte) {
	ss := c.Ctx.(*session)
	defer func() {
		if v := recover(); v != nil {
			s.contain(ss, "OnData", v)
		}
	}()
	now := s.now()
	if ss.lastSeen.Load() != now {
		ss.lastSeen.Store(now)
	}
	// Counted once the bytes are handled (deferred): whoever sees the
	// counter include them also sees every request their handling posted.
	defer s.st.bytesIn.add(c.Fd(), uint64(len(b)))
	switch ss.phase() {
	case stHandshake:
		rest, ok := s.handshake(ss, b)
		if !ok || len(rest) == 0 {
			return
		}
		b = rest
	case stClosing:
		// After our close frame, the peer's remaining frames are read and
		// dropped (RFC 6455 7.1.1: we wait for its close or its FIN).
		return
	}
	s.feed(ss, b)
}

// feed decodes frames; a protocol failure closes with its code.
func (s *Server) feed(ss *session, b []byte) {
	if f := ss.dec.Feed(b, s.cfg.MaxMessage, ss); f != nil {
		s.fail(ss, uint16(f.Code), f.Reason)
		return
	}
	// Incomplete-frame deadline: armed when the decoder is left holding a
	// partial frame or a fragmented message, cleared when nothing is
	// pending; so a client that trickles a frame (or its header) byte by
	// byte is closed -fragment-timeout after it began, with at most
	// -max-message buffered (issue 14). The heartbeat reschedules whatever
	// else is due when the entry fires. A close that arrived mid-message
	// already armed the close grace.
	if ss.phase() != stOpen {
		return
	}
	if ss.dec.Pending() {
		if ss.fragSince.Load() == 0 {
			now := s.now()
			ss.fragSince.Store(now)
			s.arm(ss, now+s.tFragment)
		}
	} else if ss.fragSince.Load() != 0 {
		ss.fragSince.Store(0)
	}
}

// fail sends a close frame for a protocol failure and waits for the peer.
func (s *Server) fail(ss *session, code uint16, reason string) {
	s.failWith(ss, code, closeFrame(code, reason))
}

// failWith is fail with the close frame given (shared, never modified).
func (s *Server) failWith(ss *session, code uint16, close []byte) {
	if !ss.closeFrom(stOpen, code, ByServer) {
		return
	}
	ss.pc.CloseAfter(close)
	s.armGrace(ss)
}

// armGrace starts the close grace: the peer has -close-grace to end the
// connection before the socket is closed regardless. Reading resumes if it
// was paused: the peer's close frame or FIN must be seen.
func (s *Server) armGrace(ss *session) {
	if ss.pausedAt.Swap(0) != 0 {
		ss.pc.ResumeRead()
	}
	at := s.now() + s.tGrace
	ss.closeAt.Store(at)
	s.hub.Arm(&ss.link, at)
}

// arm schedules an open session's entry. If a close began meanwhile on
// another goroutine, its grace deadline must win over this one.
func (s *Server) arm(ss *session, due uint32) {
	s.hub.Arm(&ss.link, due)
	if ss.phase() == stClosing {
		if at := ss.closeAt.Load(); at != 0 {
			s.hub.Arm(&ss.link, at)
		}
	}
}

// closeFrame returns a prebuilt frame for the codes the server sends, and
// builds one (rare) for anything else.
func closeFrame(code uint16, reason string) []byte {
	switch code {
	case 1000:
		return frame.CloseNormal
	case 1001:
		return frame.CloseGoingAway
	case 1002:
		return frame.CloseProtocol
	case 1007:
		return frame.CloseBadData
	case 1009:
		return frame.CloseTooBig
	}
	return frame.AppendClose(nil, wsCode(code), reason)
}

// OnClose is the end of every connection: unregister, release, count.
func (s *Server) OnClose(c *poller.Conn, err error) {
	ss, _ := c.Ctx.(*session)
	if ss == nil {
		return
	}
	st, by, code := unpackState(ss.state.Swap(packState(stClosing, ByNetwork, 1006)))
	switch st {
	case stOpen:
		// The TCP connection ended without a close handshake.
		s.open.Add(-1)
		by, code = ByNetwork, 1006
	case stHandshake:
		s.handshaking.Add(-1)
		code = 0 // never upgraded: not a WebSocket close
	}
	s.hub.Remove(&ss.link)
	// c.Ctx stays set: a shard worker or Drain may still be reading it from
	// a snapshot taken before Remove, and finds the session closing.
	ss.dec.Release()
	if ss.ip != nil {
		s.cfg.PerIP.Release(ss.ip)
		ss.ip = nil
	}
	if ss.hs != nil {
		putHS(ss.hs)
		ss.hs = nil
	}
	if code != 0 {
		s.st.closes[by][closeIndex(code)].add(c.Fd(), 1)
	}
}

// jitter spreads first pings uniformly over one interval so that a burst of
// connections (a reconnect storm) does not ping in the same second forever.
func (s *Server) jitter() uint32 { return rand.Uint32N(s.tPing) }
