package gate

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyHS256(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Leeway: DefaultLeeway, Now: clk.now})
	g, err := v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if g.User() != "u1" {
		t.Errorf("user %q", g.User())
	}
	if want := uint32(t0.Add(time.Hour).Unix() + 5); g.Exp() != want {
		t.Errorf("exp %d, want exp+leeway %d", g.Exp(), want)
	}
	for ch, want := range map[string][2]bool{
		"room.a": {true, true}, "room.b": {true, false}, "lobby": {true, false},
		"lobby2": {false, false}, "roo": {false, false},
	} {
		if got := [2]bool{g.CanSub([]byte(ch)), g.CanPub([]byte(ch))}; got != want {
			t.Errorf("%s: sub,pub = %v, want %v", ch, got, want)
		}
	}
}

func TestVerifyPublicKeyAlgorithms(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	c := claimsAt(t0, nil)
	cases := []struct {
		name string
		pub  any
		m    jwt.SigningMethod
		priv any
		want error
	}{
		{"RS256", &k.rsa.PublicKey, jwt.SigningMethodRS256, k.rsa, nil},
		{"RS512", &k.rsa.PublicKey, jwt.SigningMethodRS512, k.rsa, nil},
		{"PS256", &k.rsa.PublicKey, jwt.SigningMethodPS256, k.rsa, nil},
		{"ES256", &k.ec256.PublicKey, jwt.SigningMethodES256, k.ec256, nil},
		{"ES384", &k.ec384.PublicKey, jwt.SigningMethodES384, k.ec384, nil},
		{"EdDSA", k.ed.Public(), jwt.SigningMethodEdDSA, k.ed, nil},
		// The curve fixes the hash: a P-384 token against a P-256 key is
		// refused as an algorithm, before any signature check.
		{"ES384 vs P-256", &k.ec256.PublicKey, jwt.SigningMethodES384, k.ec384, TokenAlgorithm},
		{"ES256 other key", &k.ec256.PublicKey, jwt.SigningMethodES256, mustEC(t), TokenSignature},
		{"RS256 vs EC key", &k.ec256.PublicKey, jwt.SigningMethodRS256, k.rsa, TokenAlgorithm},
		{"HS256 vs RSA key only", &k.rsa.PublicKey, jwt.SigningMethodHS256, k.secret, TokenAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The key goes through the operator's path: a PEM file.
			path := filepath.Join(t.TempDir(), "key.pem")
			if err := os.WriteFile(path, pemOf(t, tc.pub), 0o600); err != nil {
				t.Fatal(err)
			}
			pub, err := LoadPublicKey(path)
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, TokenConfig{PublicKey: pub, Now: clk.now})
			_, err = v.Verify(sign(t, tc.m, tc.priv, c))
			if err != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func mustEC(t *testing.T) any {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAlgorithmConfusion is the classic forgery: an HS256 token whose
// HMAC key is the server's public key PEM (public knowledge). It must
// never verify, whether or not a secret is configured too.
func TestAlgorithmConfusion(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	pemBytes := pemOf(t, &k.rsa.PublicKey)
	forged := sign(t, jwt.SigningMethodHS256, pemBytes, claimsAt(t0, nil))
	v := newVerifier(t, TokenConfig{PublicKey: &k.rsa.PublicKey, Now: clk.now})
	if _, err := v.Verify(forged); err != TokenAlgorithm {
		t.Errorf("public key only: %v, want %v", err, TokenAlgorithm)
	}
	both := newVerifier(t, TokenConfig{Secret: k.secret, PublicKey: &k.rsa.PublicKey, Now: clk.now})
	if _, err := both.Verify(forged); err != TokenSignature {
		t.Errorf("secret and public key: %v, want %v", err, TokenSignature)
	}
	// The converse: an RS256 token checked against an HMAC-only verifier.
	hs := newVerifier(t, TokenConfig{Secret: k.secret, Now: clk.now})
	if _, err := hs.Verify(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(t0, nil))); err != TokenAlgorithm {
		t.Errorf("RS256 vs secret: %v, want %v", err, TokenAlgorithm)
	}
}

func TestVerifyRefusals(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Issuer: "iss1", Audience: "aud1", Leeway: DefaultLeeway, Now: clk.now})
	good := jwt.MapClaims{"iss": "iss1", "aud": "aud1"}
	with := func(extra jwt.MapClaims) []byte {
		c := claimsAt(t0, good)
		for kk, vv := range extra {
			if vv == nil {
				delete(c, kk)
			} else {
				c[kk] = vv
			}
		}
		return sign(t, jwt.SigningMethodHS256, k.secret, c)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(t0, good)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	goodTok := with(nil)
	parts := strings.Split(string(goodTok), ".")
	b64 := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name string
		tok  []byte
		want error
	}{
		{"valid", goodTok, nil},
		{"empty", nil, TokenMissing},
		{"one segment", []byte("abc"), TokenMalformed},
		{"bad base64", []byte("a!.b!.c!"), TokenMalformed},
		{"too long", []byte(strings.Repeat("a", MaxToken+1)), TokenMalformed},
		{"alg none", []byte(none), TokenAlgorithm},
		{"alg unknown", []byte(b64([]byte(`{"alg":"XX256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]), TokenAlgorithm},
		{"alg missing", []byte(b64([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]), TokenAlgorithm},
		{"alg swapped to HS512", []byte(b64([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]), TokenSignature},
		{"payload tampered", []byte(parts[0] + "." + b64([]byte(`{"sub":"admin","exp":9999999999,"ch":{"sub":["*"]}}`)) + "." + parts[2]), TokenSignature},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claimsAt(t0, good)), TokenSignature},
		{"expired", with(jwt.MapClaims{"exp": t0.Add(-6 * time.Second).Unix()}), TokenExpired},
		{"expired within leeway", with(jwt.MapClaims{"exp": t0.Add(-4 * time.Second).Unix()}), nil},
		{"nbf future", with(jwt.MapClaims{"nbf": t0.Add(time.Minute).Unix()}), TokenNotYetValid},
		{"nbf within leeway", with(jwt.MapClaims{"nbf": t0.Add(4 * time.Second).Unix()}), nil},
		{"iat future", with(jwt.MapClaims{"iat": t0.Add(time.Minute).Unix()}), TokenNotYetValid},
		{"missing exp", with(jwt.MapClaims{"exp": nil}), TokenMissingExp},
		{"wrong issuer", with(jwt.MapClaims{"iss": "other"}), TokenIssuer},
		{"missing issuer", with(jwt.MapClaims{"iss": nil}), TokenIssuer},
		{"missing audience", with(jwt.MapClaims{"aud": nil}), TokenAudience},
		{"missing exp and issuer", with(jwt.MapClaims{"exp": nil, "iss": nil}), TokenMissingExp},
		{"exp not a number", with(jwt.MapClaims{"exp": "tomorrow"}), TokenMalformed},
		{"wrong audience", with(jwt.MapClaims{"aud": []string{"x", "y"}}), TokenAudience},
		{"audience in list", with(jwt.MapClaims{"aud": []string{"x", "aud1"}}), nil},
		{"sub not a string", with(jwt.MapClaims{"sub": 5}), TokenBadClaims},
		{"sub too long", with(jwt.MapClaims{"sub": strings.Repeat("u", MaxUser+1)}), TokenBadClaims},
		{"ch not an object", with(jwt.MapClaims{"ch": "room"}), TokenBadClaims},
		{"ch.sub not a list", with(jwt.MapClaims{"ch": map[string]any{"sub": "room"}}), TokenBadClaims},
		{"bad pattern", with(jwt.MapClaims{"ch": map[string]any{"sub": []string{"ro*om"}}}), TokenBadClaims},
		{"bad channel", with(jwt.MapClaims{"ch": map[string]any{"pub": []string{"a b"}}}), TokenBadClaims},
		{"too many patterns", with(jwt.MapClaims{"ch": map[string]any{"sub": make([]string, MaxPatterns+1)}}), TokenBadClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.tok)
			if err != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var te TokenError
			if err != nil && !errors.As(err, &te) {
				t.Fatalf("%T is not a TokenError", err)
			}
		})
	}
}

func TestVerifyNoCh(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Now: clk.now})
	g, err := v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, jwt.MapClaims{"ch": nil, "sub": nil})))
	if err != nil {
		t.Fatal(err)
	}
	if g.Perms() != Nothing || g.CanSub([]byte("a")) || g.CanPub([]byte("a")) || g.User() != "" {
		t.Fatalf("no ch: perms %v user %q", g.Perms(), g.User())
	}
	g, err = v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, jwt.MapClaims{"ch": map[string]any{"sub": []string{"*"}, "pub": []string{"x", "*"}}})))
	if err != nil {
		t.Fatal(err)
	}
	if g.Perms() != Everything {
		t.Fatalf("* both ways: %v, want the shared Everything set", g.Perms())
	}
}

// TestVerifyInterns: equivalent claims in any order share one set; the
// user id is shared by handle.
func TestVerifyInterns(t *testing.T) {
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Now: clk.now})
	a, err := v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, jwt.MapClaims{"sub": "alice",
		"ch": map[string]any{"sub": []string{"room.*", "lobby", "room.x.*", "room.y"}, "pub": []string{"room.a"}}})))
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, jwt.MapClaims{"sub": "bob",
		"ch": map[string]any{"sub": []string{"lobby", "lobby", "room.*"}, "pub": []string{"room.a"}}})))
	if err != nil {
		t.Fatal(err)
	}
	if a.Perms() != b.Perms() {
		t.Fatalf("equivalent claims not shared: %v vs %v", a.Perms(), b.Perms())
	}
	if got := a.Perms().String(); got != "lobby,room.*|room.a" {
		t.Fatalf("canonical %q", got)
	}
	if a.User() != "alice" || b.User() != "bob" {
		t.Fatalf("users %q %q", a.User(), b.User())
	}
}

func TestNewVerifierConfig(t *testing.T) {
	k := keys(t)
	if _, err := NewVerifier(TokenConfig{}); err == nil {
		t.Error("no key accepted")
	}
	if _, err := NewVerifier(TokenConfig{Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	v := newVerifier(t, TokenConfig{Secret: k.secret, PublicKey: k.ed.Public().(ed25519.PublicKey)})
	if got := strings.Join(v.Algorithms(), ","); got != "HS256,HS384,HS512,EdDSA" {
		t.Errorf("algs %s", got)
	}
	dir := t.TempDir()
	sec := filepath.Join(dir, "secret")
	os.WriteFile(sec, append([]byte(strings.Repeat("s", 32)), "\r\n"...), 0o600)
	if b, err := LoadSecret(sec); err != nil || len(b) != 32 {
		t.Errorf("LoadSecret: %d bytes, %v", len(b), err)
	}
	os.WriteFile(sec, []byte("tooshort\n"), 0o600)
	if _, err := LoadSecret(sec); err == nil || !strings.Contains(err.Error(), "-jwt-secret-file") {
		t.Errorf("short secret file: %v", err)
	}
	priv := filepath.Join(dir, "priv.pem")
	os.WriteFile(priv, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, err := LoadPublicKey(priv); err == nil || !strings.Contains(err.Error(), "never a private key") {
		t.Errorf("private key file: %v", err)
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "-jwt-public-key") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTokenErrorText(t *testing.T) {
	for e := TokenMissing; e <= TokenBadClaims; e++ {
		if s := e.Error(); s == "token invalid" || len(s) > 123 {
			t.Errorf("%d: %q", e, s)
		}
	}
}
