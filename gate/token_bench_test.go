package gate

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func benchVerify(b *testing.B, cfg TokenConfig, m jwt.SigningMethod, key any) {
	clk := &clock{t0}
	cfg.Now = clk.now
	v := newVerifier(b, cfg)
	tok := sign(b, m, key, claimsAt(t0, nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	k := keys(b)
	benchVerify(b, TokenConfig{Secret: k.secret}, jwt.SigningMethodHS256, k.secret)
}

// BenchmarkVerifyHS256Library is the same token by golang-jwt's parser
// alone (the library path), for the ratio: what the fast path saves.
func BenchmarkVerifyHS256Library(b *testing.B) {
	k := keys(b)
	v := newVerifier(b, TokenConfig{Secret: k.secret, Now: (&clock{t0}).now})
	tok := sign(b, jwt.SigningMethodHS256, k.secret, claimsAt(t0, nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.verifyLib(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := keys(b)
	benchVerify(b, TokenConfig{PublicKey: &k.rsa.PublicKey}, jwt.SigningMethodRS256, k.rsa)
}

func BenchmarkVerifyES256(b *testing.B) {
	k := keys(b)
	benchVerify(b, TokenConfig{PublicKey: &k.ec256.PublicKey}, jwt.SigningMethodES256, k.ec256)
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	k := keys(b)
	benchVerify(b, TokenConfig{PublicKey: k.ed.Public()}, jwt.SigningMethodEdDSA, k.ed)
}

// BenchmarkVerifyRefused is the cost of a token that fails the signature
// check: what a flood of forged tokens costs per handshake.
func BenchmarkVerifyRefused(b *testing.B) {
	k := keys(b)
	v := newVerifier(b, TokenConfig{Secret: k.secret, Now: (&clock{t0}).now})
	tok := sign(b, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claimsAt(t0, nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != TokenSignature {
			b.Fatal(err)
		}
	}
}

// The set has n exact names and n prefixes per list; probes cycle through
// an exact hit, a prefix hit and a miss.
func benchCan(b *testing.B, n int, pub bool) {
	p, probes := bigPerms(b, n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ch := probes[i%len(probes)]
		i++
		if pub {
			p.CanPub(ch)
		} else {
			p.CanSub(ch)
		}
	}
}

func BenchmarkCanSub1(b *testing.B)   { benchCan(b, 1, false) }
func BenchmarkCanSub10(b *testing.B)  { benchCan(b, 10, false) }
func BenchmarkCanSub500(b *testing.B) { benchCan(b, 500, false) }
func BenchmarkCanPub500(b *testing.B) { benchCan(b, 500, true) }

// BenchmarkLinearScan500 is the rejected alternative, for the ratio: the
// same 1000 patterns scanned in order.
func BenchmarkLinearScan500(b *testing.B) {
	p, probes := bigPerms(b, 500)
	s := p.sub.String()
	pats := splitList(s)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ch := probes[i%len(probes)]
		i++
		naiveAllows(pats, string(ch))
	}
}
