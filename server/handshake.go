package server

import (
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/internal/bufpool"
)

// Handshake buffers exist only while an upgrade request is split over
// reads, taken from the one size-class pool (internal/bufpool): most
// requests fit 1 KiB, frame.MaxRequest bounds the rest.
func getHS(n int) *[]byte {
	b := bufpool.Get(max(n, 1<<10))[:0]
	return &b
}

func putHS(b *[]byte) {
	bufpool.Put(*b)
	*b = nil
}

// handshake consumes upgrade-request bytes. It returns the bytes that follow
// the request (early frames) and whether the connection is now open.
func (s *Server) handshake(ss *session, b []byte) (rest []byte, ok bool) {
	req, prev := b, 0
	if ss.hs != nil {
		prev = len(*ss.hs)
		// Bytes past MaxRequest cannot change the verdict (431), so they
		// are never buffered; early frames are taken from b, not from here.
		add := b
		if room := frame.MaxRequest - prev; len(add) > room {
			add = add[:room]
		}
		if prev+len(add) > cap(*ss.hs) {
			big := getHS(frame.MaxRequest)
			*big = append(*big, *ss.hs...)
			putHS(ss.hs)
			ss.hs = big
		}
		*ss.hs = append(*ss.hs, add...)
		req = *ss.hs
	}
	var u frame.Upgrade // u.Key is a copy: it outlives ss.hs going back to the pool
	var px proxyHeader
	n, rej := s.parseRequest(req, &u, &px)
	if rej == nil && n == 0 {
		if len(req) < frame.MaxRequest {
			if ss.hs == nil {
				ss.hs = getHS(len(b))
				*ss.hs = append(*ss.hs, b...)
			}
			return nil, false
		}
		rej = rejTooLarge
	}
	if rej == nil && n > prev {
		// The head ends in this read (the buffered part alone held no
		// complete head), so n > prev and what follows it is b[n-prev:]:
		// the engine's bytes, whole, never the capped copy.
		rest = b[n-prev:]
	}
	if rej == nil && s.draining.Load() {
		rej = &frame.Reject{Status: 503, Reason: "draining"}
	}
	if rej == nil && s.open.Load() >= int64(s.cfg.MaxConns) {
		rej = &frame.Reject{Status: 503, Reason: "full"}
		s.limitLog.hit("open connections at -max-conns")
	}
	// Every span of u but the key (a copy) aliases req, which may be the
	// pooled buffer given back below: the gate reads them before (another
	// loop takes the buffer the moment it is back; issue 14, a wrong
	// accept).
	admitted := rej == nil && s.gateUpgrade(ss, &u, px)
	var ext []byte // the negotiated extension element, if any
	if admitted {
		ext = s.negotiateDeflate(ss, &u)
	}
	if ss.hs != nil {
		putHS(ss.hs)
		ss.hs = nil
	}
	if rej != nil {
		s.reject(ss, rej, nil)
		return nil, false
	}
	if !admitted {
		return nil, false // the gate refused it
	}
	// The first ping is due at a uniformly random point of the first
	// interval, so a burst of connections does not ping in step forever.
	// Set before the CAS below, which publishes it to the shard worker: a
	// handshake-deadline entry firing once the session is open reads it.
	now := s.now()
	ss.nextPing = now + 1 + s.jitter()
	// Open the session before the 101 leaves, so that whatever the client
	// does once it reads the 101 finds an open session, never a handshake
	// deadline firing late.
	if !ss.state.CompareAndSwap(packState(stHandshake, 0, 0), packState(stOpen, 0, 0)) {
		return nil, false // a deadline closed it meanwhile
	}
	s.handshaking.Add(-1)
	s.open.Add(1)
	s.st.accepted.add(ss.pc.Fd(), 1)
	due := ss.nextPing
	if at := ss.authAt.Load(); at != 0 {
		due = min(due, at)
	}
	s.hub.Arm(&ss.link, due)
	// 101 from a stack buffer: WriteCopy copies only if the fresh socket
	// would block, which it practically never does.
	var buf [frame.MaxAccept]byte
	if err := ss.pc.WriteCopy(frame.AppendAcceptExt(buf[:0], u.Key, ext)); err != nil {
		return nil, false
	}
	return rest, true
}

// reject answers a connection still in its handshake with an HTTP error and
// closes once it is written; it reports whether this call did (a deadline
// and a completing upgrade may race: only one wins). It may run on the
// shard worker, so it never touches hs, which belongs to OnData.
func (s *Server) reject(ss *session, rej *frame.Reject, cause *counter) bool {
	return s.refuse(ss, rejectIndex(rej.Reason), frame.AppendReject(nil, rej), cause)
}

// refuse is reject with a complete response (shared bytes, never
// modified) counted under RejectReasons[reason].
func (s *Server) refuse(ss *session, reason int, resp []byte, cause *counter) bool {
	if !ss.closeFrom(stHandshake, 0, ByServer) {
		return false
	}
	// Counted before the response leaves (see timeout).
	s.st.rejected[reason].add(ss.pc.Fd(), 1)
	if cause != nil {
		cause.add(ss.pc.Fd(), 1)
	}
	s.rejectLog.hit(RejectReasons[reason])
	ss.pc.CloseAfter(resp)
	s.armGrace(ss)
	return true
}
