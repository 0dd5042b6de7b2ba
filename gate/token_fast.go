package gate

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"encoding/base64"
	"hash"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// The fast path verifies the common token without allocating anything
// but the grant it returns. Why not golang-jwt alone: its parser allocates
// per token, by design (a Token, a header map, two json.Unmarshal states,
// base64 copies, a joined signing string, an hmac.New), and that garbage
// stays resident: an idle server keeps whatever spans the last GC cycle's
// garbage shares with the connections' long-lived records. Measured with
// TestIdleGateCost (19,000 connections, each its own sub, medians of 5
// fresh processes each, 2 cores, 2026-12-01), per connection over a
// server without tokens:
//
//	                                                   grant     heap    RSS
//	golang-jwt as shipped (67 allocs, 3.5 KB a token)  24 B+id   +39 B   +162 B
//	golang-jwt at its leanest (one Parser, concrete    48 B      +45 B   +141 B
//	  claims, no MapClaims or json.Number; 46 allocs,
//	  2.7 KB): the same at GOGC=25 / GOGC=400          48 B      +47/+45 +108/+261 B
//	no verification at all (grant built directly)      48 B      +44 B   +36 B
//	this fast path (1 alloc: the grant)                48 B      +45 B   +55 B
//	this fast path, the grant of 16 B + id (grant.go)  32 B      +36 B   +46 B
//	  (a second set of 5, and GOGC=400)                          +30/+31 +58/+50 B
//
// The RSS cost follows GOGC, so it is the last cycle's garbage held by
// fragmentation, not the grants; only removing the garbage closes it. So
// this path does the parsing itself and leaves to the library what the
// library does best: the public-key signature algorithms (its
// SigningMethods) and the verdict, with the failed check named, for every
// token this path does not accept. It decides alone only to accept (after
// the same checks, in the same order, with the same encodings: see
// token_claims.go) and to refuse a bad signature on a token it read
// completely; FuzzFastMatchesLibrary holds both answers to the library's.
// (Public-key tokens still allocate in the crypto packages: 2 to 25
// objects, see the benchmarks.)

// fastPath holds what the fast path needs beyond the Verifier's fields.
type fastPath struct {
	macs     [3]sync.Pool // *macState for HS256, HS384, HS512; nil New without a secret
	leeway   time.Duration
	issuer   string
	audience string
}

// macState is one pooled keyed HMAC and room for its sum.
type macState struct {
	h   hash.Hash
	sum [64]byte
}

var hmacHashes = [3]crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

func (f *fastPath) init(cfg TokenConfig) {
	f.leeway, f.issuer, f.audience = cfg.Leeway, cfg.Issuer, cfg.Audience
	if len(cfg.Secret) > 0 {
		for i, h := range hmacHashes {
			key := cfg.Secret
			f.macs[i].New = func() any { return &macState{h: hmac.New(h.New, key)} }
		}
	}
}

// scratch is one verification's working memory: the decoded header,
// payload and signature (at most 3/4 of MaxToken together) and the
// claims' lists. Pooled, so a verification allocates none of it.
type scratch struct {
	buf   [MaxToken / 4 * 3]byte
	lists claimLists
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// verifyFast returns decided false when the library path must decide.
func (v *Verifier) verifyFast(tok []byte) (g *Grant, err error, decided bool) {
	h64, rest, ok1 := bytes.Cut(tok, []byte{'.'})
	p64, s64, ok2 := bytes.Cut(rest, []byte{'.'})
	if !ok1 || !ok2 || bytes.IndexByte(s64, '.') >= 0 {
		return nil, nil, false
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.lists = claimLists{} // drop the last token's strings
	buf := sc.buf[:0]
	hdr, buf, ok := decodeSegment(buf, h64)
	if !ok {
		return nil, nil, false
	}
	alg, ok := headerAlg(hdr)
	if !ok || !slices.Contains(v.algs, string(alg)) {
		return nil, nil, false
	}
	payload, buf, ok := decodeSegment(buf, p64)
	if !ok {
		return nil, nil, false
	}
	var c claims
	if !readClaims(payload, &c, &sc.lists) {
		return nil, nil, false
	}
	sig, _, ok := decodeSegment(buf, s64)
	if !ok {
		return nil, nil, false
	}
	// The library checks the signature after decoding the claims and
	// before validating them: a bad one is its verdict too.
	if !v.signatureOK(alg, tok[:len(h64)+1+len(p64)], sig) {
		return nil, TokenSignature, true
	}
	if !v.fast.claimsOK(&c, v.now()) {
		return nil, nil, false
	}
	g, err = v.grant(&c)
	if err != nil {
		return nil, nil, false // the library names it
	}
	return g, nil, true
}

// decodeSegment decodes one base64url segment (unpadded, non-strict: the
// library's DecodeSegment) after dst's contents, within its capacity.
func decodeSegment(dst, seg []byte) (out, grown []byte, ok bool) {
	enc := base64.RawURLEncoding
	free := dst[len(dst):cap(dst)]
	if enc.DecodedLen(len(seg)) > len(free) {
		return nil, dst, false
	}
	n, err := enc.Decode(free, seg)
	if err != nil {
		return nil, dst, false
	}
	return free[:n:n], dst[:len(dst)+n], true
}

// signatureOK checks sig over signing with the key for alg (alg is one of
// v.algs): HMAC with a pooled keyed hash, constant-time compare (what the
// library's SigningMethodHMAC does, with hmac.New per call); the public-key
// algorithms by the library's SigningMethods.
func (v *Verifier) signatureOK(alg, signing, sig []byte) bool {
	if i := hmacIndex(alg); i >= 0 {
		m := v.fast.macs[i].Get().(*macState)
		m.h.Reset()
		m.h.Write(signing)
		ok := hmac.Equal(sig, m.h.Sum(m.sum[:0]))
		v.fast.macs[i].Put(m)
		return ok
	}
	method := jwt.GetSigningMethod(string(alg))
	return method != nil && method.Verify(unsafe.String(&signing[0], len(signing)), sig, v.pub) == nil
}

func hmacIndex(alg []byte) int {
	switch string(alg) {
	case "HS256":
		return 0
	case "HS384":
		return 1
	case "HS512":
		return 2
	}
	return -1
}

// claimsOK accepts what the library's validator accepts with the options
// NewVerifier gives it (exp required, iat checked, leeway, issuer,
// audience); anything else goes to the library for its verdict.
func (f *fastPath) claimsOK(c *claims, now time.Time) bool {
	if !c.Exp.set || !now.Before(c.Exp.d.Add(f.leeway)) {
		return false
	}
	if c.Nbf.set && now.Before(c.Nbf.d.Add(-f.leeway)) {
		return false
	}
	if c.Iat.set && now.Before(c.Iat.d.Add(-f.leeway)) {
		return false
	}
	if f.issuer != "" && c.Iss != f.issuer {
		return false
	}
	if f.audience != "" && !slices.Contains(c.Aud, f.audience) {
		return false
	}
	return true
}
