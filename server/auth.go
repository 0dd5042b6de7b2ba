package server

import (
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/gate"
)

// Tokens after the upgrade: the auth op (first message, or a refresh at
// any time), the 401 for ops before it, the 403 for channels outside the
// grant, and the 4401 close at the -auth-timeout deadline or at the
// token's expiry. No timer per connection: authAt is one more deadline the
// connection's single wheel entry serves (onTimer takes the earliest).

// Err codes of the gate (docs/protocol.md).
const (
	CodeUnauthorized = 401 // an op before a successful auth op
	CodeForbidden    = 403 // a sub or pub outside the token's ch claim
)

// maxAhead bounds how far ahead a token's expiry is put on the coarse
// clock (about 68 years): the tick stays a uint32 that never wraps.
const maxAhead = 1 << 31

// authCloses are the 4401 close frames, one per AuthChecks entry: the
// reason names the failed check ("token expired" serves the expiry while
// connected too).
var authCloses [len(AuthChecks)][]byte

// closeSubject closes a connection whose auth op named another user.
var closeSubject = frame.AppendClose(nil, 4401, "token subject changed")

func init() {
	authCloses[0] = frame.AppendClose(nil, 4401, "authentication timeout")
	for te := 1; te < len(authCloses); te++ {
		authCloses[te] = frame.AppendClose(nil, 4401, gate.TokenError(te).Error())
	}
}

// setGrant makes g the session's grant and its expiry the session's auth
// deadline. It returns the deadline it replaced and the new one (ticks).
func (s *Server) setGrant(ss *session, g *gate.Grant) (old, at uint32) {
	ss.grant.Store(g)
	at = s.expTick(g.Exp())
	return ss.authAt.Swap(at), at
}

// expTick converts a token's expiry (Unix seconds) to a coarse-clock tick,
// once per verified token; 0 stays "never".
func (s *Server) expTick(exp uint32) uint32 {
	if exp == 0 {
		return 0
	}
	left := int64(exp) - s.cfg.Now().Unix()
	return s.now() + uint32(min(max(left, 0), maxAhead))
}

// auth handles an auth op on the event loop: a good token replaces the
// grant (new permissions apply to the ops that follow; subscriptions made
// before stay), a bad one closes with 4401 naming the check.
func (ss *session) auth(op *frame.Op, enc frame.Enc) {
	s := ss.srv
	fd := ss.pc.Fd()
	if s.cfg.Tokens != nil {
		g, err := s.cfg.Tokens.Verify(op.Token)
		if err != nil {
			check := authCheck(err)
			s.closeAuth(ss, authCloses[check], &s.st.authFail[check])
			return
		}
		// A refresh renews the token of the connection's user; it never
		// makes the connection someone else's (issue 14): the grant's
		// subscriptions would stay, and /api/disconnect of the first user
		// would no longer find it.
		if old := ss.grant.Load(); old != nil && old.User() != g.User() {
			s.closeAuth(ss, closeSubject, &s.st.authFail[gate.TokenBadClaims])
			return
		}
		s.st.authOK.add(fd, 1)
		// A deadline later than the one armed needs nothing: the entry
		// fires at the old one and finds the new. An earlier one (a token
		// expiring sooner) makes the entry fire at the next tick, where
		// onTimer takes the earliest of everything due; arming the new
		// deadline itself could postpone a ping due before it.
		if old, at := s.setGrant(ss, g); at != 0 && (old == 0 || at < old) {
			s.arm(ss, s.now()+1)
		}
	}
	// Without a verifier the server is open: the token is not needed,
	// and the op is acknowledged.
	if op.ID != nil {
		var buf [replyMax]byte
		ss.reply(frame.AppendAck(buf[:0], enc, op.ID))
	}
}

// authDue closes a connection whose auth deadline passed (onTimer, on the
// shard worker): no token yet, or the token expired.
func (s *Server) authDue(ss *session) {
	if ss.grant.Load() == nil {
		s.closeAuth(ss, authCloses[0], &s.st.authFail[0])
		return
	}
	s.closeAuth(ss, authCloses[gate.TokenExpired], &s.st.expired)
}

// closeAuth sends a 4401 close and starts the close grace. The cause is
// counted by the call that wins the close, before the frame leaves.
func (s *Server) closeAuth(ss *session, f []byte, cause *counter) {
	if !ss.closeFrom(stOpen, 4401, ByServer) {
		return
	}
	cause.add(ss.pc.Fd(), 1)
	ss.pc.CloseAfter(f)
	s.armGrace(ss)
}
