package server

import (
	"sync/atomic"

	"github.com/starling-ws/starling/frame"
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
// decoder holds a pooled buffer only while a frame is incomplete.
//
// Field owners: pc, srv, refv are set in OnOpen and never change. hs, dec,
// nsubs are touched only from OnData (serialised by the engine). state,
// lastSeen and fragSince are atomics because the shard worker reads them in
// OnTimer. lastPing and pingSent are touched only from OnTimer (one shard
// worker per connection).
type session struct {
	pc  *poller.Conn
	srv *Server
	// refv is the shard.Ref, atomic because the wheel may fire on the shard
	// worker before OnOpen has stored what Add returned.
	refv atomic.Uint64
	hs   *[]byte // pooled; only while a handshake request is incomplete
	dec  frame.Decoder

	// state packs the session state (low byte), and once closing, the
	// close initiator (next byte) and code (high half), so that the first
	// close path wins with one CAS and OnClose reads all three consistently.
	state     atomic.Uint32
	lastSeen  atomic.Uint32 // clock tick of the last bytes received
	fragSince atomic.Uint32 // clock tick the open fragmented message began; 0 if none
	opened    uint32        // clock tick of accept
	lastPing  uint32        // clock tick of the last ping sent (or a jittered phase)
	pingSent  uint32        // clock tick of the outstanding ping; 0 if none
	nsubs     uint16
}

func packState(st uint32, by uint8, code uint16) uint32 { return st | uint32(by)<<8 | uint32(code)<<16 }

func unpackState(v uint32) (st uint32, by uint8, code uint16) {
	return v & 0xff, uint8(v >> 8), uint16(v >> 16)
}

func (s *session) ref() shard.Ref { return shard.Ref(s.refv.Load()) }

// phase is the session state without the close details.
func (s *session) phase() uint32 { return s.state.Load() & 0xff }

// beginClose moves the session to closing once; it reports whether this call
// did, so exactly one path sends the close frame and counts it.
func (s *session) beginClose(code uint16, by uint8) bool {
	for {
		v := s.state.Load()
		st := v & 0xff
		if st == stClosing {
			return false
		}
		if s.state.CompareAndSwap(v, packState(stClosing, by, code)) {
			if st == stOpen {
				s.srv.open.Add(-1)
			} else {
				s.srv.handshaking.Add(-1)
			}
			return true
		}
	}
}
