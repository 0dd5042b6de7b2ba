package server

import (
	"sync/atomic"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/shard"
)

// Session states. Transitions: handshake -> open -> closing, or handshake ->
// closing; the engine's OnClose ends every state.
const (
	stHandshake uint32 = iota
	stOpen
	stClosing // a close frame or an HTTP rejection is on its way; wait for the peer or the grace deadline
)

// session is one connection's record above the engine. It is allocated once
// per connection and holds no buffer while the connection is idle: hs is
// non-nil only while a handshake request is split over reads, and the
// decoder holds a pooled buffer only while a frame is incomplete. A
// negotiated permessage-deflate is the decoder's deflate flag, nothing more
// (compress.go).
//
// Field owners: pc, srv are set in OnOpen and never change; link belongs to
// the hub (shard.Link). hs and dec are touched only from OnData (serialised
// by the engine). state, lastSeen and fragSince are atomics because the
// shard worker reads them in OnTimer; closeAt too, since any closer sets it
// for the worker. nextPing and pingSent belong to OnTimer (one shard worker
// per connection), except that the upgrade sets nextPing once, before the
// state CAS that publishes it (a timer that fires once the session is open
// reads it after that CAS).
//
// The gate's share (issue 10), 20 bytes of the record: authAt fills what
// was the record's tail padding, so the record grows by grant and ip only
// (128 -> 144 bytes, the next size class; TestSessionSize). grant is an
// atomic pointer because POST /api/disconnect reads the user id from an
// API goroutine while an auth op may replace the grant on the event loop;
// it is nil until the connection has authenticated, the shared openGrant
// on a server without tokens (no allocation), and otherwise a grant of its
// own (one allocation: 16 bytes and the user id, 24-64 B), replaced whole by
// each successful auth op. authAt is written by the handshake and by auth
// ops (OnData) and read by OnTimer. ip belongs to OnData and OnClose
// (serialised by the engine): acquired once the client address is known,
// released by OnClose, exactly once.
type session struct {
	pc  *poller.Conn
	srv *Server
	hs  *[]byte // pooled; only while a handshake request is incomplete
	dec frame.Decoder

	// state packs the session state (low byte), and once closing, the
	// close initiator (next byte) and code (high half), so that the first
	// close path wins with one CAS and OnClose reads all three consistently.
	state     atomic.Uint32
	lastSeen  atomic.Uint32 // clock tick of the last bytes received
	fragSince atomic.Uint32 // clock tick the open fragmented message began; 0 if none
	closeAt   atomic.Uint32 // clock tick the close grace ends; 0 until closing
	pausedAt  atomic.Uint32 // clock tick reading was paused for -max-publish-rate; 0 if not
	opened    uint32        // clock tick of accept
	nextPing  uint32        // clock tick a ping is due if the connection stays silent
	pingSent  uint32        // clock tick of the outstanding ping; 0 if none
	// The publish rate's token bucket (-max-publish-rate), owned by OnData:
	// tokens left in the current tick. 8 bytes instead of a rate.Limiter's
	// 80-odd per connection; a second's granularity is what a limit meant
	// against floods needs.
	pubTokens uint32
	pubTick   uint32
	// authAt is the tick the connection is closed with 4401 unless an auth
	// op moves it: the -auth-timeout deadline while grant is nil, then the
	// token's expiry; 0 when nothing expires (no tokens).
	authAt atomic.Uint32
	// link (12 bytes, 4-aligned) sits among the 4-byte fields so that the
	// record has no padding and keeps the 144-byte size class.
	link  shard.Link
	grant atomic.Pointer[gate.Grant]
	ip    *gate.IPSlot // per-address slot; nil when uncounted
}

// allowPublish takes one publish token, refilling the bucket (one second's
// worth at most) when the clock has moved.
func (s *session) allowPublish(rate int, now uint32) bool {
	if rate == 0 {
		return true
	}
	if now != s.pubTick {
		s.pubTokens = uint32(min(int64(rate), int64(s.pubTokens)+int64(rate)*int64(now-s.pubTick)))
		s.pubTick = now
	}
	if s.pubTokens == 0 {
		return false
	}
	s.pubTokens--
	return true
}

func packState(st uint32, by uint8, code uint16) uint32 { return st | uint32(by)<<8 | uint32(code)<<16 }

func unpackState(v uint32) (st uint32, by uint8, code uint16) {
	return v & 0xff, uint8(v >> 8), uint16(v >> 16)
}

// phase is the session state without the close details.
func (s *session) phase() uint32 { return s.state.Load() & 0xff }

// closeFrom moves the session from phase from to closing; it reports
// whether this call did, so exactly one path sends the close (a close frame
// from stOpen, an HTTP error from stHandshake) and counts it. Phases other
// than closing carry no close details, so one CAS on the exact value decides.
func (s *session) closeFrom(from uint32, code uint16, by uint8) bool {
	if !s.state.CompareAndSwap(packState(from, 0, 0), packState(stClosing, by, code)) {
		return false
	}
	if from == stOpen {
		s.srv.open.Add(-1)
	} else {
		s.srv.handshaking.Add(-1)
	}
	return true
}
