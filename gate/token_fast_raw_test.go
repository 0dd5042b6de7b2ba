package gate

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenSigner re-signs a mutated token, so that edits to its header and
// payload segments (padding, line breaks, loose base64 bits, another alg,
// extra dots) reach the checks behind a valid signature. The HMAC keyed
// with a public key's bytes is the algorithm-confusion forgery.
type tokenSigner struct {
	m   jwt.SigningMethod
	key any
}

func tokenSigners(t testing.TB) []tokenSigner {
	k := keys(t)
	_, otherEd, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return []tokenSigner{
		{}, // 0: leave the token as it is
		{jwt.SigningMethodHS256, fuzzSecret},
		{jwt.SigningMethodHS384, fuzzSecret},
		{jwt.SigningMethodHS512, fuzzSecret},
		{jwt.SigningMethodEdDSA, k.ed},
		{jwt.SigningMethodRS256, k.rsa},
		{jwt.SigningMethodPS256, k.rsa},
		{jwt.SigningMethodHS256, pemOf(t, &k.rsa.PublicKey)},
		{jwt.SigningMethodHS256, []byte(k.ed.Public().(ed25519.PublicKey))},
		{jwt.SigningMethodEdDSA, otherEd},
	}
}

// resign replaces what follows tok's last '.' (or appends one) with s's
// signature over what precedes it.
func (s tokenSigner) resign(t testing.TB, tok []byte) []byte {
	if s.m == nil {
		return tok
	}
	signing := tok
	if i := bytes.LastIndexByte(tok, '.'); i >= 0 {
		signing = tok[:i]
	}
	sig, err := s.m.Sign(string(signing), s.key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(string(signing) + "." + base64.RawURLEncoding.EncodeToString(sig))
}

// rawVerifiers: an HMAC secret alone, each public key alone, and a secret
// beside a public key, all reading the clock through now.
func rawVerifiers(t testing.TB, now *time.Time) []*Verifier {
	k := keys(t)
	cfg := TokenConfig{Issuer: "iss", Audience: "aud", Leeway: DefaultLeeway, Now: func() time.Time { return *now }}
	var vs []*Verifier
	for _, keys := range []struct {
		secret []byte
		pub    any
	}{{fuzzSecret, nil}, {nil, k.ed.Public()}, {nil, &k.rsa.PublicKey}, {fuzzSecret, k.ed.Public()}} {
		c := cfg
		c.Secret, c.PublicKey = keys.secret, keys.pub
		vs = append(vs, newVerifier(t, c))
	}
	return vs
}

// rawSeeds are valid tokens of every signer and the variants of their
// bytes the claims fuzzer never produces; with resign set the edited
// token carries a good signature.
func rawSeeds(t testing.TB, signers []tokenSigner) (toks [][]byte, resign []uint8) {
	const payload = `{"exp":1700003600,"iss":"iss","aud":"aud","sub":"u","ch":{"sub":["room.*"],"pub":["room.a"]}}`
	b64 := base64.RawURLEncoding.EncodeToString
	add := func(tok string, r int) {
		if r > 0 {
			tok += "." // resign signs what precedes the last dot
		}
		toks, resign = append(toks, []byte(tok)), append(resign, uint8(r))
	}
	for i, s := range signers[1:] {
		h := b64([]byte(`{"alg":"` + s.m.Alg() + `","typ":"JWT"}`))
		add(string(s.resign(t, []byte(h+"."+b64([]byte(payload))+"."))), 0)
		add(h+"."+b64([]byte(payload)), i+1)
	}
	hs := func(header string) string { return b64([]byte(header)) + "." + b64([]byte(payload)) }
	// Headers, signed with HS256 (1) whatever they say.
	for _, h := range []string{
		`{"alg":"none"}`, `{"alg":"HS512"}`, `{"alg":"RS256"}`, `{"alg":"EdDSA"}`, `{"alg":"hs256"}`,
		`{"alg":"HS256 "}`, `{"alg":"HS256","kid":"k1"}`, `{"alg":"HS256","typ":"at+jwt","cty":"JWT"}`,
		`{"alg":"HS256","alg":"HS256"}`, `{"alg":"HS256","alg":"none"}`, `{"alg":"none","alg":"HS256"}`,
		" {\r\n \"alg\" :\t\"HS256\" } ", `{"alg":"HS256"}x`, `{"alg":"HS256","alg":null}`, `{"alg":"HS\u0032"}`,
		`{"Alg":"HS256"}`, `{"alg":"HS256","crit":["exp"]}`, `{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}`,
	} {
		add(hs(h), 1)
	}
	// Public-key algs signed by an HMAC keyed with the public key.
	add(hs(`{"alg":"RS256","typ":"JWT"}`), 7)
	add(hs(`{"alg":"HS256","typ":"JWT"}`), 7)
	add(hs(`{"alg":"EdDSA"}`), 8)
	add(hs(`{"alg":"HS256"}`), 8)
	add(hs(`{"alg":"EdDSA"}`), 9)
	add(hs(`{"alg":"RS256"}`), 6) // PS256 signature under RS256
	add(hs(`{"alg":"PS256"}`), 5)
	add(b64([]byte(`{"alg":"none"}`))+"."+b64([]byte(payload))+".", 0)
	// Edits of a good HS256 token's bytes.
	good := string(signers[1].resign(t, []byte(hs(hs256Header)+".")))
	parts := strings.Split(good, ".")
	h, p, s := parts[0], parts[1], parts[2]
	loose := func(seg string) string { // the last char's unused bits set
		const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(abc, seg[len(seg)-1])
		return seg[:len(seg)-1] + string(abc[i|1])
	}
	pad := func(seg string) string { return seg + strings.Repeat("=", (4-len(seg)%4)%4) + "=" }
	for _, e := range []struct {
		tok string
		r   int
	}{
		{h + "." + p + "." + pad(s), 0}, {pad(h) + "." + p, 1}, {h + "." + pad(p), 1},
		{h + "." + p + "." + s[:10] + "\n" + s[10:], 0}, {h[:4] + "\r\n" + h[4:] + "." + p, 1},
		{h + "." + p[:8] + "\r" + p[8:], 1}, {h + "." + p + "." + s + "\n", 0}, {h + "." + p + ".\n" + s, 0},
		{h + "." + p + "." + loose(s), 0}, {loose(h) + "." + p, 1}, {h + "." + loose(p), 1},
		{good + ".", 0}, {good + "." + s, 0}, {h + "." + p + "." + p, 1}, {h + "." + p, 0}, {h, 0},
		{"." + p + "." + s, 0}, {h + ".." + s, 0}, {h + "." + p + ".", 0}, {"..", 0}, {"." + p, 1},
		{h + "." + p + "." + s + "AA", 0}, {h + "." + p + "." + s[:len(s)-1], 0},
		{strings.ReplaceAll(good, "-", "+"), 0}, {strings.ReplaceAll(good, "_", "/"), 0},
		{"Bearer " + good, 0}, {" " + good, 0}, {good + " ", 0},
	} {
		add(e.tok, e.r)
	}
	return toks, resign
}

// FuzzFastMatchesLibraryToken mutates the token bytes themselves (and,
// with resign, signs the mutated bytes with one of tokenSigners), against
// an HMAC, an Ed25519, an RSA and a mixed verifier, with the clock moved
// by shift seconds. Whenever the fast path decides, the library path gives
// the same verdict and an equal grant; whenever Verify accepts, golang-jwt
// alone (map claims, only the verifier's algorithms, no gate code)
// accepts the token's shape, algorithm and signature.
func FuzzFastMatchesLibraryToken(f *testing.F) {
	signers := tokenSigners(f)
	toks, resign := rawSeeds(f, signers)
	for i, tok := range toks {
		f.Add(tok, resign[i], int32(0))
	}
	f.Add(toks[0], uint8(0), int32(3604)) // exp+leeway-1
	f.Add(toks[0], uint8(0), int32(3605)) // exp+leeway
	f.Add(toks[0], uint8(0), int32(-1<<31))
	now := t0
	vs := rawVerifiers(f, &now)
	f.Fuzz(func(t *testing.T, tok []byte, resign uint8, shift int32) {
		tok = signers[int(resign)%len(signers)].resign(t, tok)
		if len(tok) == 0 || len(tok) > MaxToken {
			return
		}
		now = t0.Add(time.Duration(shift) * time.Second)
		for i, v := range vs {
			fg, ferr, decided := v.verifyFast(tok)
			lg, lerr := v.verifyLib(tok)
			if decided && ferr != lerr {
				t.Fatalf("verifier %d (%v): fast path %v, library %v", i, v.algs, ferr, lerr)
			}
			if decided && ferr == nil && (fg.User() != lg.User() || fg.Exp() != lg.Exp() || fg.Perms() != lg.Perms()) {
				t.Fatalf("verifier %d: fast grant %q/%d/%v, library %q/%d/%v", i, fg.User(), fg.Exp(), fg.Perms(), lg.User(), lg.Exp(), lg.Perms())
			}
			if g, err := v.Verify(tok); err != nil || g == nil {
				continue
			}
			_, err := jwt.Parse(string(tok), func(tk *jwt.Token) (any, error) {
				if _, ok := tk.Method.(*jwt.SigningMethodHMAC); ok {
					return v.secret, nil
				}
				return v.pub, nil
			}, jwt.WithValidMethods(v.algs), jwt.WithoutClaimsValidation())
			if err != nil {
				t.Fatalf("verifier %d (%v) accepted what golang-jwt alone refuses: %v", i, v.algs, err)
			}
		}
	})
}

// TestRawSeedsReachEveryVerdict: the seed corpus is not vacuous. The fast
// path accepts each signer's own token (HS*, EdDSA, RS256, PS256) and
// refuses a forged signature itself; the library path refuses alg
// confusion and broken shapes by name.
func TestRawSeedsReachEveryVerdict(t *testing.T) {
	signers := tokenSigners(t)
	toks, resign := rawSeeds(t, signers)
	now := t0
	vs := rawVerifiers(t, &now)
	accepted := map[string]bool{}
	verdicts := map[error]bool{}
	for i, tok := range toks {
		tok = signers[resign[i]].resign(t, tok)
		for _, v := range vs {
			g, ferr, decided := v.verifyFast(tok)
			if decided && ferr == nil && g.User() == "u" {
				h, _, _ := bytes.Cut(tok, []byte{'.'})
				hdr, _ := base64.RawURLEncoding.DecodeString(string(h))
				alg, _ := headerAlg(hdr)
				accepted[string(alg)] = true
			}
			if decided {
				verdicts[ferr] = true
			}
			_, err := v.verifyLib(tok)
			verdicts[err] = true
		}
	}
	for _, alg := range []string{"HS256", "HS384", "HS512", "EdDSA", "RS256", "PS256"} {
		if !accepted[alg] {
			t.Errorf("no seed of %s is accepted by the fast path", alg)
		}
	}
	for _, want := range []error{nil, TokenSignature, TokenAlgorithm, TokenMalformed} {
		if !verdicts[want] {
			t.Errorf("no seed reaches %v", want)
		}
	}
}
