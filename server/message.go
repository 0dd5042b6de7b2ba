package server

import (
	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
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
	if ss.phase() != stOpen {
		return // closed by an earlier message of the same read (a bad auth op)
	}
	fd := ss.pc.Fd()
	s.st.msgsIn.add(fd, 1)
	enc := frame.MsgPack
	if text {
		enc = frame.JSON
	}
	var op frame.Op
	if e := frame.DecodeOp(p, enc, &op); e != nil {
		ss.replyErr(enc, e.ID, e.Code, e.Msg)
		return
	}
	if testHookMessage != nil {
		testHookMessage(&op)
	}
	// nil until an auth op (or the request's token) succeeded; read once
	// per op, an atomic load (an auth op replaces it whole).
	g := ss.grant.Load()
	if g == nil && op.Kind != frame.OpAuth {
		ss.replyErr(enc, op.ID, CodeUnauthorized, "not authenticated: send an auth op first")
		return
	}
	switch op.Kind {
	case frame.OpSub:
		if !g.CanSub(op.Ch) {
			ss.replyErr(enc, op.ID, CodeForbidden, "not permitted: the token's ch.sub does not cover this channel")
			return
		}
		if !ss.link.Reserve(s.cfg.MaxSubscriptions) {
			ss.replyErr(enc, op.ID, frame.CodeTooMany, "subscription limit reached (-max-subscriptions)")
			return
		}
		var since *shard.Position
		if op.Since.Set {
			// An epoch that does not parse matches no channel: the sub is
			// then answered recovered:false, like any other lost position.
			since = &shard.Position{Off: op.Since.Off, Epoch: frame.ParseEpoch(op.Since.Epoch)}
		}
		if s.cl != nil && s.cl.sub(ss, op.Ch, enc, op.ID, since) {
			return // a resume through the bus, or queued behind one (cluster_resume.go)
		}
		if code, msg := s.subscribe(ss, enc, op.Ch, op.ID, since, nil); code != 0 {
			ss.replyErr(enc, op.ID, code, msg)
		}
	case frame.OpUnsub:
		var ack []byte
		if op.ID != nil {
			ack = frame.AppendAck(nil, enc, op.ID)
			s.st.repliesOut.add(fd, 1)
		}
		if s.cl != nil && s.cl.unsub(ss, op.Ch, enc, op.ID, ack) {
			return
		}
		// Written by the worker after the leave, or here if the connection
		// cannot be a member.
		if !s.hub.Unsubscribe(&ss.link, op.Ch, ack) && ack != nil {
			ss.write(ack)
		}
	case frame.OpPub:
		if !g.CanPub(op.Ch) {
			ss.replyErr(enc, op.ID, CodeForbidden, "not permitted: the token's ch.pub does not cover this channel")
			return
		}
		if ss.overRate(fd, enc, op.ID, "publish rate over -max-publish-rate") {
			return
		}
		if s.cl != nil {
			s.cl.publishBus(ss, fd, op.Ch, op.Data, enc, op.ID) // acked when the bus answers
			return
		}
		off, code, msg := s.publish(fd, op.Ch, op.Data, enc)
		if code != 0 {
			ss.replyErr(enc, op.ID, code, msg)
			return
		}
		if op.ID != nil {
			var buf [replyMax]byte
			ss.reply(frame.AppendPubAck(buf[:0], enc, op.ID, off))
		}
	case frame.OpPing:
		// App-level heartbeat for clients that cannot see WebSocket pings
		// (browsers); receiving it already counted as liveness.
		if op.ID == nil {
			s.st.repliesOut.add(fd, 1)
			ss.write(frame.PongOp[enc])
			return
		}
		var buf [replyMax]byte
		ss.reply(frame.AppendPongOp(buf[:0], enc, op.ID))
	case frame.OpAuth:
		// A token is verified on this loop (tens of µs for RS/ES/EdDSA):
		// a refresh loop is bounded like a publisher, or one connection
		// could keep its loop verifying (issue 14).
		if s.cfg.Tokens != nil && ss.overRate(fd, enc, op.ID, "auth rate over -max-publish-rate") {
			return
		}
		ss.auth(&op, enc)
	}
}

// overRate takes a token from the connection's bucket of costly ops (pub
// and auth, -max-publish-rate). Without one it refuses the op with err 429
// and reports true.
func (ss *session) overRate(fd int, enc frame.Enc, id []byte, msg string) bool {
	s := ss.srv
	now := s.now()
	if ss.allowPublish(s.cfg.PublishRate, now) {
		return false
	}
	s.st.rated.add(fd, 1)
	// Backpressure, not work per excess message: stop reading this
	// connection until its bucket refills on the next tick (the epoll
	// engine; the netpoll engine reads on its own). Armed before the reply
	// leaves, so no tick the client may cause after reading it is served
	// ahead of the arm.
	if ss.pausedAt.CompareAndSwap(0, now) {
		ss.pc.PauseRead()
		s.arm(ss, now+1)
	}
	ss.replyErr(enc, id, frame.CodeTooMany, msg)
	return true
}

// testHookMessage, when set by a test (export_test.go), sees every op.
var testHookMessage func(op *frame.Op)

// subscribe hands a sub to the hub (the subscription is Reserved): the
// shard's worker writes the ack (built under the channel's lock, with the
// position the stream starts after), so that it precedes every msg of the
// channel on the wire. fetched, if set, are a bus's publications after
// since (a resume through the bus). A refusal gives the reservation back
// and returns the err reply's code and message.
func (s *Server) subscribe(ss *session, enc frame.Enc, ch, id []byte, since *shard.Position, fetched []shard.Stored) (int, string) {
	ack := subAck{srv: s, fd: ss.pc.Fd(), enc: enc, id: id}
	var err error
	if fetched != nil {
		err = s.hub.SubscribeFrom(&ss.link, ch, ss.class(enc), *since, fetched, &ack)
	} else {
		err = s.hub.Subscribe(&ss.link, ch, ss.class(enc), since, &ack)
	}
	if err != nil {
		ss.link.Unreserve()
		return hubErr(err)
	}
	return 0, ""
}

// subAck builds a sub's ack under the hub's channel lock (shard.AckBuilder).
// id aliases the read buffer: BuildAck runs within Subscribe, while it is
// valid.
type subAck struct {
	srv *Server
	fd  int
	enc frame.Enc
	id  []byte
}

func (a *subAck) BuildAck(pos shard.Position, recovered, hasSince bool) []byte {
	if a.id == nil {
		return nil
	}
	rec := frame.NoSince
	if hasSince {
		rec = frame.Lost
		if recovered {
			rec = frame.Recovered
		}
	}
	a.srv.st.repliesOut.add(a.fd, 1)
	return frame.AppendSubAck(nil, a.enc, a.id, pos.Off, pos.Epoch, rec)
}

// hubErr is the err reply for a refusal by the hub.
func hubErr(err error) (int, string) {
	switch err {
	case shard.ErrTooManyChannels:
		return frame.CodeTooMany, "channel limit reached (-max-channels)"
	case shard.ErrBusy:
		return frame.CodeTooMany, "server busy: fan-out queue full, retry"
	case shard.ErrName:
		return frame.CodeBadChannel, "invalid channel name"
	}
	return CodeUnavailable, "server stopping"
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

// write sends an immutable, already counted reply.
func (ss *session) write(b []byte) {
	if err := ss.pc.Write(b); err != nil {
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
