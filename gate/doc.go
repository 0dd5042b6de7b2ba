// Package gate decides who may connect and what they may do: bearer tokens
// (JWT) and the channel permissions they grant, allowed browser Origins, the
// client address behind trusted proxies (PROXY protocol, X-Forwarded-For),
// and admission under load (a per-address connection cap and an accept-rate
// token bucket with jittered Retry-After).
//
// Everything here runs once per connection, at the handshake or at an auth
// op, on bytes the server has already read: inputs are byte slices and
// netip values, outputs are verdicts, addresses and small values the session
// keeps (a Grant: 16 bytes and its user id, one allocation). The one exception by design is
// Perms.CanSub/CanPub, called once per sub/pub op; they are allocation-free
// and sub-linear in the number of patterns.
//
// It must never:
//   - do per-message or per-recipient work (no check on the fan-out path;
//     the session asks CanSub/CanPub once per op, never per delivery);
//   - start a goroutine per connection, or hold a timer per connection
//     (token expiry is a uint32 the server arms on its timer wheel);
//   - keep a map keyed by client-controlled data without a bound: the
//     per-address table holds only addresses with open connections, the
//     permission intern table only sets some live connection still points
//     to (weak pointers); a user id is a private copy in its Grant;
//   - leave garbage behind a common token: the fast path allocates only
//     the grant (the garbage of a parse stays resident in an idle server,
//     see token_fast.go);
//   - touch a socket, read a clock it was not given (Verifier takes a Now
//     function, admission takes now), or hold a lock across anything but a
//     few map operations.
//
// Cost note for the caller: a signature check is paid on the thread that
// calls Verify. HS256 costs microseconds; RS256/ES256/EdDSA cost tens of
// microseconds (see the benchmarks), which an event loop pays once per
// handshake.
package gate
