package gate

import (
	"math"
	"unsafe"
)

// Grant is what a verified token yields, kept in the session for the life
// of the connection (or until the next auth op replaces it): a pointer to
// the interned permission set, the expiry, and the user id, whose bytes
// follow the Grant in the same allocation. Verify allocates each grant
// once (newGrant), in the smallest of these that fits:
//
//	user id    0..8 B   9..16 B   17..32 B   33..48 B   longer
//	grant      24 B     32 B      48 B       64 B       24 B + the id's own copy
//
// One object rather than a Grant and a string, 16 bytes less than a Grant
// holding a pointer to the id, and no id in the tiny allocator's 16-byte
// blocks. Because the bytes live after the struct, a Grant exists only
// where newGrant or OpenGrant put it and is only ever used by pointer:
// never copy one (noCopy makes go vet say so); a copy has no user id
// behind it.
//
// The user id is not interned: measured with 19k distinct ids, unique.Make
// costs ~215 B of table per id while the inline copy costs its bytes;
// interning would only pay for users holding more than a dozen connections
// each. The bytes are never written after newGrant.
type Grant struct {
	_     noCopy
	perms *Perms
	ulen  uint32
	exp   uint32
}

// noCopy is go vet's copylocks marker (see sync.noCopy).
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// MaxUser bounds the sub claim (longer: TokenBadClaims).
const MaxUser = 1024

// maxInline is the longest user id held inside the grant's allocation;
// a longer one is a separate copy the grant points to.
const maxInline = 48

// The grant allocations (Go size classes 24, 32, 48 and 64 bytes): the
// Grant first, the id's bytes (or, when longer, a pointer to them) at
// offset unsafe.Sizeof(Grant{}).
type (
	grantBox8 struct {
		g Grant
		u [8]byte
	}
	grantBox16 struct {
		g Grant
		u [16]byte
	}
	grantBox32 struct {
		g Grant
		u [32]byte
	}
	grantBox48 struct {
		g Grant
		u [maxInline]byte
	}
	grantBoxFar struct {
		g Grant
		u *byte
	}
)

var openGrant = &Grant{perms: Everything}

// OpenGrant is the grant of a server running without tokens, shared by
// every connection: every channel both ways, no user id, no expiry.
func OpenGrant() *Grant { return openGrant }

// newGrant allocates a grant with a copy of user (which may point into a
// scratch buffer: nothing of it is kept).
func newGrant(p *Perms, user string, exp int64) *Grant {
	var g *Grant
	var buf []byte
	switch n := len(user); {
	case n == 0:
		g = new(Grant)
	case n <= 8:
		b := new(grantBox8)
		g, buf = &b.g, b.u[:n]
	case n <= 16:
		b := new(grantBox16)
		g, buf = &b.g, b.u[:n]
	case n <= 32:
		b := new(grantBox32)
		g, buf = &b.g, b.u[:n]
	case n <= maxInline:
		b := new(grantBox48)
		g, buf = &b.g, b.u[:n]
	default:
		b := new(grantBoxFar)
		buf = make([]byte, n)
		g, b.u = &b.g, &buf[0]
	}
	g.perms, g.exp, g.ulen = p, clampExp(exp), uint32(len(buf))
	copy(buf, user)
	return g
}

// User is the token's sub claim ("" if absent). It does not allocate.
func (g *Grant) User() string {
	if g.ulen == 0 {
		return ""
	}
	// The bytes (or the pointer to them) follow the Grant in its box.
	p := unsafe.Add(unsafe.Pointer(g), unsafe.Sizeof(Grant{}))
	if g.ulen > maxInline {
		p = unsafe.Pointer(*(**byte)(p))
	}
	return unsafe.String((*byte)(p), g.ulen)
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

// Exp is the Unix second from which the token no longer verifies (its
// exp claim plus the verifier's leeway), 0 for a grant that never
// expires. The server closes the connection with 4401 at Exp unless an
// auth op replaced the grant.
func (g *Grant) Exp() uint32 { return g.exp }
