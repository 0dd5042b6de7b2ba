package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs header and payload bytes as they are (HS256 over the
// fuzz secret), so hostile JSON reaches the claim readers behind a valid
// signature.
func signRaw(header, payload []byte) []byte {
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, fuzzSecret)
	mac.Write([]byte(signing))
	return []byte(signing + "." + b64(mac.Sum(nil)))
}

// fastVerifier has an issuer and an audience configured, so those
// checks are exercised too.
func fastVerifier(t testing.TB) *Verifier {
	return newVerifier(t, TokenConfig{Secret: fuzzSecret, Issuer: "iss", Audience: "aud", Leeway: DefaultLeeway,
		Now: func() time.Time { return t0 }})
}

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

var fastSeeds = []string{
	`{"exp":1700003600,"iss":"iss","aud":"aud","sub":"u","ch":{"sub":["room.*","a"],"pub":["*"]}}`,
	`{"exp":1700003600,"iat":1699999999,"nbf":1699999990,"iss":"iss","aud":["x","aud"],"sub":"ü-ser"}`,
	`{"exp":1700003600.9,"iss":"iss","aud":"aud","ch":null,"sub":null,"jti":{"x":[1,{"y":"}"}]}}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","EXP":1}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","ſub":"x"}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","sub":"a","sub":"b"}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","s\u0075b":"x"}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","sub":"\u0041"}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","ch":{"sub":["a",null]}}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","ch":{"SUB":["a"]}}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","ch":{"sub":"a"}}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","ch":[]}`,
	`{"exp":"1700003600","iss":"iss","aud":"aud"}`,
	`{"exp":1e400,"iss":"iss","aud":"aud"}`,
	`{"exp":9007199254740992,"iss":"iss","aud":"aud"}`,
	`{"exp":1700003600,"nbf":1e19,"iat":-9007199254740994,"iss":"iss","aud":"aud"}`,
	`{"exp":1699999990,"iss":"iss","aud":"aud"}`,
	`{"exp":1700003600,"nbf":1700000006,"iss":"iss","aud":"aud"}`,
	`{"exp":1700003600,"iss":"other","aud":"aud"}`,
	`{"exp":1700003600,"iss":"iss","aud":""}`,
	`{"exp":1700003600,"iss":"iss","aud":[1]}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud","sub":5}`,
	`{"exp":1700003600,"iss":"iss","aud":"aud"} `,
	`{"exp":1700003600,"iss":"iss","aud":"aud"}x`,
	`[1]`,
	`{"exp":null,"iss":"iss","aud":"aud"}`,
	"{\"exp\":1700003600,\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"\xff\"}",
}

var headerSeeds = []string{
	hs256Header,
	`{"alg":"HS512"}`,
	`{"alg":"none"}`,
	`{"alg":"HS256","alg":"HS256"}`,
	`{"\u0061lg":"HS256"}`,
	`{"ALG":"HS256","alg":"HS384","x":[{"alg":1}]}`,
	`{"alg":"H\u0053256"}`,
	`{"alg":5}`,
	`"HS256"`,
}

// FuzzFastMatchesLibrary holds the fast path to golang-jwt: whenever it
// decides (accepts, or refuses a bad signature), the library path gives
// the same verdict and an equal grant; whenever it reads claims, they equal
// what encoding/json decodes into the same type; whenever it reads an
// alg, it is what the library's header map holds.
func FuzzFastMatchesLibrary(f *testing.F) {
	for _, h := range headerSeeds {
		for _, p := range fastSeeds {
			f.Add([]byte(h), []byte(p), false)
		}
	}
	f.Add([]byte(hs256Header), []byte(fastSeeds[0]), true)
	v := fastVerifier(f)
	f.Fuzz(func(t *testing.T, header, payload []byte, tamper bool) {
		if alg, ok := headerAlg(header); ok {
			var m map[string]any
			if err := json.Unmarshal(header, &m); err != nil || m["alg"] != string(alg) {
				t.Fatalf("headerAlg read %q; encoding/json: %v, %v", alg, m["alg"], err)
			}
		}
		var fc claims
		var lists claimLists
		if readClaims(payload, &fc, &lists) {
			var lc claims
			if err := json.Unmarshal(payload, &lc); err != nil {
				t.Fatalf("readClaims accepted what encoding/json refuses: %v", err)
			}
			if !sameClaims(&fc, &lc) {
				t.Fatalf("readClaims %+v, encoding/json %+v", fc, lc)
			}
		}
		tok := signRaw(header, payload)
		if tamper {
			tok[len(tok)-2] ^= 1
		}
		if len(tok) > MaxToken {
			return
		}
		fg, ferr, decided := v.verifyFast(tok)
		if !decided {
			return
		}
		lg, lerr := v.verifyLib(tok)
		if ferr != lerr {
			t.Fatalf("fast path: %v, library: %v", ferr, lerr)
		}
		if ferr == nil && (fg.User() != lg.User() || fg.Exp() != lg.Exp() || fg.Perms() != lg.Perms()) {
			t.Fatalf("fast grant %q/%d/%v, library %q/%d/%v", fg.User(), fg.Exp(), fg.Perms(), lg.User(), lg.Exp(), lg.Perms())
		}
	})
}

func sameClaims(a, b *claims) bool {
	date := func(x, y numericDate) bool { return x.set == y.set && x.d.Equal(y.d.Time) }
	return date(a.Exp, b.Exp) && date(a.Nbf, b.Nbf) && date(a.Iat, b.Iat) && a.Iss == b.Iss && a.Sub == b.Sub &&
		slices.Equal(a.Aud, b.Aud) && slices.Equal(a.Ch.Sub, b.Ch.Sub) && slices.Equal(a.Ch.Pub, b.Ch.Pub)
}

// TestFastPathDecides: the tokens issuers actually send take the fast
// path (one allocation: the grant), with each HMAC strength; the shapes
// it leaves to the library still get the library's verdict via Verify.
func TestFastPathDecides(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Issuer: "iss1", Audience: "aud1", Leeway: DefaultLeeway, Now: clk.now})
	base := jwt.MapClaims{"iss": "iss1", "aud": []string{"aud1"}, "nbf": t0.Unix(), "sub": "user-00001"}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		tok := sign(t, m, k.secret, claimsAt(t0, base))
		g, err, decided := v.verifyFast(tok)
		if !decided || err != nil || g.User() != "user-00001" || !g.CanPub([]byte("room.a")) {
			t.Fatalf("%s: decided %v, err %v, grant %v", m.Alg(), decided, err, g)
		}
		if n := testing.AllocsPerRun(200, func() { v.Verify(tok) }); n != 1 && !raceEnabled {
			t.Errorf("%s: %.0f allocations per Verify, want 1 (the grant)", m.Alg(), n)
		}
	}
	forged := sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claimsAt(t0, base))
	if _, err, decided := v.verifyFast(forged); !decided || err != TokenSignature {
		t.Fatalf("forged: decided %v, %v", decided, err)
	}
	for name, extra := range map[string]jwt.MapClaims{
		"expired":       {"exp": t0.Add(-time.Minute).Unix()},
		"case-folded":   {"Sub": "x"},
		"many patterns": {"ch": map[string]any{"sub": make([]string, maxFastList+1)}},
		"escaped":       {"sub": "a\"b"},
	} {
		c := claimsAt(t0, base)
		for kk, vv := range extra {
			c[kk] = vv
		}
		tok := sign(t, jwt.SigningMethodHS256, k.secret, c)
		if _, _, decided := v.verifyFast(tok); decided {
			t.Errorf("%s: the fast path decided; the library must", name)
		}
		_, err := v.Verify(tok)
		_, lerr := v.verifyLib(tok)
		if err != lerr {
			t.Errorf("%s: Verify %v, library %v", name, err, lerr)
		}
	}
}
