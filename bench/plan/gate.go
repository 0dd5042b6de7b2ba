package plan

// What the gate (issue 10) adds per connection or per client address.
// These are not in the profile: bench idle measures a server without
// tokens, and these figures come from runs that set the gate up on
// purpose. Each names the command that measured it (2 cores, 2026-12-01);
// a plan with -tokens or -per-ip is only as true as these runs.

// TokenBytes is what an idle connection that authenticated with a token
// costs over one on a server without tokens (RSS: its grant, 16 B and its
// user id in one allocation, plus what residence adds): medians of 5
// fresh processes each, 19,000 connections with a 10-byte sub of their
// own and a shared ch claim; the larger of two such sets (+46 B and +58 B;
// heap alone +36 B and +30 B), as a plan must not promise more than the
// machine showed.
//
//	STARLING_IDLE_GATE_N=19000 STARLING_IDLE_GATE_REPS=5 go test -run '^TestIdleGateCost$' -v ./server/
const TokenBytes = 58

// PermSetBytes is what a ch claim of its own (a permission set no other
// connection shares: per-user channels in the claim) adds to such a
// connection, RSS: the same command's "tokens-own-ch" mode (2 patterns a
// set) over its "tokens" mode (334 B and 325 B in the two sets).
// Connections with equal ch claims share one set.
const PermSetBytes = 334

// PerIPBytes is the per-address table of -max-conns-per-ip (and trusted
// proxies): one map entry and one slot per client address with open
// connections, heap, the largest of N = 4,096, 19,000 and 65,536
// addresses (101-114 B as the map fills between doublings).
//
//	go test -run '^TestPerIPResidue$' -v ./gate/
const PerIPBytes = 114

// gateBytes is the gate's share per connection, and its fixed share (the
// per-address table when the client addresses are known and few).
func gateBytes(in Input) (perConn, fixed float64) {
	if in.Tokens {
		perConn += TokenBytes + in.TokenOwnCh*PermSetBytes
	}
	if in.PerIP {
		if in.ClientIPs > 0 {
			fixed += float64(in.ClientIPs) * PerIPBytes
		} else {
			perConn += PerIPBytes // many client addresses: at worst one each
		}
	}
	return perConn, fixed
}
