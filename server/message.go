package server

import (
	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/frame"
)

// The session is the decoder's frame.Handler: events arrive from Feed on
// the engine goroutine that owns this connection's reads.

// replyMax is the stack buffer for acks, errs and pongs; replies fit it, so
// they are written without a heap allocation (WriteCopy copies only if the
// socket would block).
const replyMax = 256

// Message handles one application message.
func (ss *session) Message(text bool, p []byte) {
	s := ss.srv
	s.st.msgsIn.add(ss.pc.Fd(), 1)
	enc := frame.MsgPack
	if text {
		enc = frame.JSON
	}
	var op frame.Op
	if e := frame.DecodeOp(p, enc, &op); e != nil {
		ss.replyErr(enc, e.ID, e.Code, e.Msg)
		return
	}
	switch op.Kind {
	case frame.OpSub:
		if int(ss.nsubs) >= s.cfg.MaxSubscriptions {
			ss.replyErr(enc, op.ID, frame.CodeTooMany, "subscription limit reached (-max-subscriptions)")
			return
		}
		if s.hub.Subscribe(ss.ref(), op.Ch, uint8(enc)) {
			ss.nsubs++
		}
	case frame.OpUnsub:
		if s.hub.Unsubscribe(ss.ref(), op.Ch) {
			ss.nsubs--
		}
	case frame.OpPub:
		if err := s.publish(ss, &op); err != nil {
			ss.replyErr(enc, op.ID, frame.CodeBadRequest, err.Error())
			return
		}
	}
	if op.ID != nil {
		var buf [replyMax]byte
		ss.reply(frame.AppendAck(buf[:0], enc, op.ID))
	}
}

func (ss *session) replyErr(enc frame.Enc, id []byte, code int, msg string) {
	var buf [replyMax]byte
	ss.reply(frame.AppendErr(buf[:0], enc, id, code, msg))
}

// reply writes a small frame from a caller's (stack) buffer. A reply that
// overflows the outbound bound makes this a slow consumer like any other.
func (ss *session) reply(b []byte) {
	ss.srv.st.repliesOut.add(ss.pc.Fd(), 1)
	if err := ss.pc.WriteCopy(b); err != nil {
		ss.srv.overflowed(ss, err)
	}
}

// Ping answers with a pong carrying the same payload (RFC 6455 5.5.2).
func (ss *session) Ping(p []byte) {
	var buf [replyMax]byte
	if err := ss.pc.WriteCopy(frame.AppendPong(buf[:0], p)); err != nil {
		ss.srv.overflowed(ss, err)
	}
}

// Pong needs nothing: any bytes received already count as liveness.
func (ss *session) Pong([]byte) {}

// Close echoes the peer's close (its code, or an empty close for 1005) and
// waits for the peer to end the TCP connection, as RFC 6455 7.1 asks.
func (ss *session) Close(code ws.StatusCode, _ []byte) {
	if !ss.closeFrom(stOpen, uint16(code), ByClient) {
		return
	}
	reply := frame.CloseNormal
	switch code {
	case ws.StatusNoStatusRcvd:
		reply = closeEmpty
	case ws.StatusNormalClosure:
	default:
		reply = frame.AppendClose(nil, code, "")
	}
	ss.pc.CloseAfter(reply)
	ss.srv.armGrace(ss)
}

// closeEmpty is a close frame without a status, the echo of one without.
var closeEmpty = []byte{0x88, 0x00}

func wsCode(c uint16) ws.StatusCode { return ws.StatusCode(c) }
