package gate

import (
	"math"
	"strings"
	"unsafe"
)

// Grant is what a verified token yields, kept in the session for the life
// of the connection (or until the next auth op replaces it). It is 24
// bytes: a pointer to the interned permission set, the user id as a
// pointer and a length, and the expiry.
//
// The user id is a private exact-size copy, not interned: measured with
// 19k distinct ids, unique.Make costs ~215 B of table per id while the
// copy costs its size class (16 B for a 12-byte id); interning would only
// pay for users holding more than a dozen connections each. It is stored
// as pointer+length (unsafe.String) rather than a string header so that
// the length shares a word with exp: 24 B instead of 32 B per session.
// The bytes are never written after newGrant.
//
// The zero Grant permits nothing.
type Grant struct {
	perms *Perms
	user  *byte
	ulen  uint32
	exp   uint32
}

// MaxUser bounds the sub claim (longer: TokenBadClaims).
const MaxUser = 1024

// OpenGrant is the grant of a server running without tokens: every
// channel both ways, no user id, no expiry.
func OpenGrant() Grant { return Grant{perms: Everything} }

func newGrant(p *Perms, user string, exp int64) Grant {
	g := Grant{perms: p, exp: clampExp(exp)}
	if user != "" {
		user = strings.Clone(user) // exact size, owned by the grant alone
		g.user, g.ulen = unsafe.StringData(user), uint32(len(user))
	}
	return g
}

// clampExp fits a Unix time into uint32 seconds (good until 2106): a
// later time is clamped, never wrapped into the past.
func clampExp(t int64) uint32 {
	switch {
	case t <= 0:
		return 1 // never 0, which means "no expiry"
	case t >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(t)
}

// Perms is the permission set (shared; never modify).
func (g *Grant) Perms() *Perms { return g.perms }

// CanSub reports whether the grant allows subscribing to ch.
func (g *Grant) CanSub(ch []byte) bool { return g.perms.CanSub(ch) }

// CanPub reports whether the grant allows publishing on ch.
func (g *Grant) CanPub(ch []byte) bool { return g.perms.CanPub(ch) }

// User is the token's sub claim ("" if absent). It does not allocate.
func (g *Grant) User() string { return unsafe.String(g.user, g.ulen) }

// Exp is the Unix second from which the token no longer verifies (its
// exp claim plus the verifier's leeway), 0 for a grant that never
// expires. The server closes the connection with 4401 at Exp unless an
// auth op replaced the grant.
func (g *Grant) Exp() uint32 { return g.exp }
