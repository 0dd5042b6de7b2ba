package server

import (
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/poller"
)

// onTimer runs on the connection's shard worker when its single wheel entry
// comes due, and returns the tick it is due next (0: disarmed). One entry
// serves every deadline of the connection: it is always armed for the
// earliest of the handshake deadline, the close grace, the fragment (or
// incomplete frame) deadline, the pong deadline, the next ping and the
// auth deadline (-auth-timeout, then the token's expiry: auth.go).
//
// Heartbeats are lazy: a connection that sent bytes within the interval is
// not pinged (its traffic proves it alive), and receiving bytes never
// touches the wheel, only the atomic lastSeen.
func (s *Server) onTimer(c *poller.Conn, now uint32) uint32 {
	ss, _ := c.Ctx.(*session)
	if ss == nil {
		return 0
	}
	switch ss.phase() {
	case stHandshake:
		if now >= ss.opened+s.tHandshake {
			s.reject(ss, &frame.Reject{Status: 408, Reason: "timeout"}, &s.st.deadlines)
			return ss.closeAt.Load()
		}
		return ss.opened + s.tHandshake
	case stClosing:
		// The peer did not finish the close handshake within the grace. An
		// entry that fired just before the close began is re-armed instead.
		if at := ss.closeAt.Load(); at == 0 || now < at {
			return at
		}
		// A peer that never read what we sent (a slow consumer, a client
		// that stopped reading) would leave the socket in FIN-WAIT-1 with
		// its send buffer pinned as long as the peer stays: reset it instead,
		// which frees the buffer at once (counted as resets).
		if c.Unsent() > 0 {
			c.Abort()
		} else {
			c.Close()
		}
		return 0
	}
	at := ss.authAt.Load()
	if at != 0 && now >= at {
		s.authDue(ss)
		return ss.closeAt.Load()
	}
	if p := ss.pausedAt.Load(); p != 0 {
		// Paused for -max-publish-rate. The bytes the server declined to
		// read do not count against the client's incomplete-frame deadline:
		// it restarts when reading does.
		if now > p && ss.pausedAt.CompareAndSwap(p, 0) {
			if ss.fragSince.Load() != 0 {
				ss.fragSince.Store(now)
			}
			c.ResumeRead()
		} else {
			if f := ss.fragSince.Load(); f != 0 && f < now {
				ss.fragSince.Store(now)
			}
			due := min(s.heartbeat(ss, now), p+1)
			if at != 0 {
				due = min(due, at)
			}
			return due
		}
	}
	due := s.heartbeat(ss, now)
	// A close that began on another goroutine meanwhile: its grace wins.
	if ss.phase() == stClosing {
		return ss.closeAt.Load()
	}
	if at != 0 {
		due = min(due, at)
	}
	return due
}

// heartbeat decides an open connection's next deadline, pinging it or
// closing it (then returning the close grace) as due.
func (s *Server) heartbeat(ss *session, now uint32) uint32 {
	seen := ss.lastSeen.Load()
	frag := ss.fragSince.Load()
	if frag != 0 && now >= frag+s.tFragment {
		s.timeout(ss, &s.st.deadlines)
		return ss.closeAt.Load()
	}
	var due uint32
	switch {
	case ss.pingSent != 0 && seen >= ss.pingSent:
		ss.pingSent = 0 // answered (any bytes count, not only a pong)
		fallthrough
	case ss.pingSent == 0:
		next := max(seen+s.tPing, ss.nextPing)
		if now < next {
			due = next
			break
		}
		if err := ss.pc.Write(frame.PingFrame); err != nil {
			s.overflowed(ss, err)
			return ss.closeAt.Load()
		}
		s.st.pings.add(ss.pc.Fd(), 1)
		ss.nextPing, ss.pingSent = now+s.tPing, now
		due = now + s.tPong
	default: // a ping is outstanding and nothing came back
		if now >= ss.pingSent+s.tPong {
			s.timeout(ss, &s.st.heartbeat)
			return ss.closeAt.Load()
		}
		due = ss.pingSent + s.tPong
	}
	if frag != 0 {
		due = min(due, frag+s.tFragment)
	}
	return due
}

// timeout closes a connection that missed a deadline: 1008 with a reason,
// then the close grace. The cause is counted by the call that wins the
// close, before the frame leaves, so a client that has the close never
// reads a counter that has not moved yet.
func (s *Server) timeout(ss *session, cause *counter) {
	if !ss.closeFrom(stOpen, 1008, ByServer) {
		return
	}
	cause.add(ss.pc.Fd(), 1)
	ss.pc.CloseAfter(frame.CloseTimeout)
	s.armGrace(ss)
}

// onSlow is shard's report that a fan-out write met a full outbound queue.
func (s *Server) onSlow(c *poller.Conn) {
	if ss, _ := c.Ctx.(*session); ss != nil {
		s.overflowed(ss, poller.ErrOverflow)
	}
}

// overflowed applies the slow-consumer policy: the engine already dropped
// the queue (memory is back), so send 1008 and give the peer the grace to
// read it before the socket is closed. Other write errors mean the
// connection is already going away; the engine reports its close.
func (s *Server) overflowed(ss *session, err error) {
	if err != poller.ErrOverflow {
		return
	}
	if !ss.closeFrom(stOpen, 1008, ByServer) {
		return
	}
	s.st.slow.add(ss.pc.Fd(), 1)
	s.slowLog.hit("outbound queue over its bound")
	ss.pc.CloseAfter(frame.CloseSlow)
	s.armGrace(ss)
}
