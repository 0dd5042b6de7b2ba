package server

import (
	"github.com/starling-ws/starling/gate"
	"github.com/starling-ws/starling/internal/stripe"
)

// counter is the one striped counter (internal/stripe): hot counters spread
// over cache lines so that event loops on different cores do not fight
// over one line, folded only when read, at scrape time. The stripe is
// picked by the caller's connection descriptor, which is stable and spread.
type counter struct{ c stripe.Counter }

func (c *counter) add(key int, n uint64) { c.c.Add(key, int64(n)) }
func (c *counter) load() uint64          { return uint64(c.c.Load()) }

// Reject reasons and close codes are small fixed sets so their counters are
// arrays, not maps: no lock, no allocation.
// The last four are the gate's: unauthorized (401, a bad token in the
// header or query), forbidden (403, an Origin not allowed), too_many (429,
// -max-conns-per-ip), rate_limited (503, -accept-rate).
var RejectReasons = [...]string{"bad_request", "bad_method", "bad_version", "not_found", "too_large", "full", "timeout", "draining", "busy", "internal",
	"unauthorized", "forbidden", "too_many", "rate_limited"}

// Indexes of the gate's reasons in RejectReasons.
const (
	rejUnauthorized = iota + 10
	rejForbidden
	rejTooMany
	rejRateLimited
)

// AuthChecks name the token checks, indexed by gate.TokenError, for the
// count of failures by check; index 0 is "timeout": no token within
// -auth-timeout.
var AuthChecks = [...]string{
	0:                     "timeout",
	gate.TokenMissing:     "missing",
	gate.TokenMalformed:   "malformed",
	gate.TokenSignature:   "signature",
	gate.TokenAlgorithm:   "algorithm",
	gate.TokenExpired:     "expired",
	gate.TokenNotYetValid: "not_yet_valid",
	gate.TokenIssuer:      "issuer",
	gate.TokenAudience:    "audience",
	gate.TokenMissingExp:  "missing_exp",
	gate.TokenBadClaims:   "bad_claims",
}

// authCheck is the AuthChecks index of a Verify error.
func authCheck(err error) int {
	if te, ok := err.(gate.TokenError); ok && int(te) < len(AuthChecks) && te != 0 {
		return int(te)
	}
	return int(gate.TokenBadClaims)
}

func rejectIndex(reason string) int {
	for i, r := range RejectReasons {
		if r == reason {
			return i
		}
	}
	return 0
}

// CloseCodes are the close codes counted one by one; anything else is "other".
var CloseCodes = [...]uint16{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4401, 4403, 0}

func closeIndex(code uint16) int {
	for i, c := range CloseCodes[:len(CloseCodes)-1] {
		if c == code {
			return i
		}
	}
	return len(CloseCodes) - 1
}

// Initiators of a close.
const (
	ByServer  = iota // we sent the first close frame (or dropped the socket)
	ByClient         // the client sent the first close frame
	ByNetwork        // the TCP connection ended without a close handshake (1006)
	nInitiators
)

// InitiatorNames label the Initiators for metrics.
var InitiatorNames = [nInitiators]string{"server", "client", "network"}

type stats struct {
	accepted   counter
	rejected   [len(RejectReasons)]counter
	closes     [nInitiators][len(CloseCodes)]counter
	msgsIn     counter
	bytesIn    counter
	repliesOut counter
	publishes  counter
	busy       counter // publishes refused: a fan-out queue was full
	rated      counter // pub and auth ops refused: -max-publish-rate
	panics     counter // panics contained
	slow       counter
	heartbeat  counter // closed for heartbeat silence
	deadlines  counter // handshake / fragment deadline
	pings      counter
	authOK     counter                  // tokens verified (handshake or auth op)
	authFail   [len(AuthChecks)]counter // tokens refused, by check; [0]: auth timeouts
	expired    counter                  // connections closed 4401 at their token's expiry
	// permessage-deflate (compress.go)
	deflated     counter // upgrades that negotiated it
	compressions counter // compressed msg frames built (one per publish per encoding at most)
	declined     counter // compressed classes served the plain frame (under -compress-min, or no gain)
	inflated     counter // compressed client messages inflated
}

// Stats is a snapshot of the server's counters (folded at read time).
type Stats struct {
	Open              int64
	Handshaking       int64
	Accepted          uint64
	Rejected          map[string]uint64
	Closes            map[string]map[uint16]uint64 // initiator -> close code (0: other) -> count
	MessagesIn        uint64
	BytesIn           uint64
	RepliesOut        uint64
	Publishes         uint64
	PublishesRefused  uint64 // err 429: a fan-out queue over its bound
	PublishesLimited  uint64 // err 429: -max-publish-rate (pub and auth ops)
	Panics            uint64 // panics contained (a bug; connection closed with 1011)
	SlowConsumers     uint64
	HeartbeatTimeouts uint64
	DeadlineCloses    uint64
	PingsSent         uint64
	Authenticated     uint64            // tokens verified, at the handshake or in an auth op
	AuthFailures      map[string]uint64 // by AuthChecks: 401 at the handshake or 4401 after an auth op / -auth-timeout
	TokenExpiries     uint64            // connections closed with 4401 when their token expired
	ClientAddresses   int               // addresses with open connections (-max-conns-per-ip's table)
	PermissionSets    int               // interned permission sets (live, or awaiting their cleanup)
	DeflateNegotiated uint64            // upgrades that negotiated permessage-deflate
	Compressions      uint64            // compressed msg frames built: at most one per publish per encoding
	CompressDeclined  uint64            // compressed subscribers' frames left plain (under -compress-min, or no gain)
	Inflations        uint64            // compressed client messages inflated
}

// Stats folds the counters. It allocates (maps) and is meant for scrapes.
func (s *Server) Stats() Stats {
	st := Stats{
		Open:              s.open.Load(),
		Handshaking:       s.handshaking.Load(),
		Accepted:          s.st.accepted.load(),
		Rejected:          make(map[string]uint64, len(RejectReasons)),
		Closes:            make(map[string]map[uint16]uint64, nInitiators),
		MessagesIn:        s.st.msgsIn.load(),
		BytesIn:           s.st.bytesIn.load(),
		RepliesOut:        s.st.repliesOut.load(),
		Publishes:         s.st.publishes.load(),
		PublishesRefused:  s.st.busy.load(),
		PublishesLimited:  s.st.rated.load(),
		Panics:            s.st.panics.load(),
		SlowConsumers:     s.st.slow.load(),
		HeartbeatTimeouts: s.st.heartbeat.load(),
		DeadlineCloses:    s.st.deadlines.load(),
		PingsSent:         s.st.pings.load(),
		Authenticated:     s.st.authOK.load(),
		AuthFailures:      make(map[string]uint64, len(AuthChecks)),
		TokenExpiries:     s.st.expired.load(),
		ClientAddresses:   s.cfg.PerIP.Len(),
		DeflateNegotiated: s.st.deflated.load(),
		Compressions:      s.st.compressions.load(),
		CompressDeclined:  s.st.declined.load(),
		Inflations:        s.st.inflated.load(),
	}
	if s.cfg.Tokens != nil {
		st.PermissionSets = s.cfg.Tokens.Perms().Len()
	}
	for i, c := range AuthChecks {
		st.AuthFailures[c] = s.st.authFail[i].load()
	}
	for i, r := range RejectReasons {
		st.Rejected[r] = s.st.rejected[i].load()
	}
	for by := 0; by < nInitiators; by++ {
		m := make(map[uint16]uint64, len(CloseCodes))
		for i, code := range CloseCodes {
			if n := s.st.closes[by][i].load(); n > 0 {
				m[code] = n
			}
		}
		st.Closes[InitiatorNames[by]] = m
	}
	return st
}
