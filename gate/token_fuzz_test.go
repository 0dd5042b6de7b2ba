package gate

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var fuzzSecret = []byte("fuzz-secret-fuzz-secret-fuzz-secret!")

func fuzzVerifier(t testing.TB) *Verifier {
	return newVerifier(t, TokenConfig{Secret: fuzzSecret, Issuer: "iss", Leeway: DefaultLeeway, Now: func() time.Time { return t0 }})
}

// FuzzVerify feeds arbitrary bytes as a token. Every outcome must be a
// grant or a TokenError; a grant must also verify with the library alone
// (the fuzzer cannot forge a signature, so only seeds can succeed).
func FuzzVerify(f *testing.F) {
	f.Add(sign(f, jwt.SigningMethodHS256, fuzzSecret, claimsAt(t0, jwt.MapClaims{"iss": "iss"})))
	f.Add([]byte("eyJhbGciOiJub25lIn0.eyJleHAiOjF9."))
	f.Add([]byte("a.b.c"))
	f.Add([]byte(".."))
	v := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, tok []byte) {
		g, err := v.Verify(tok)
		if err != nil {
			var te TokenError
			if !errors.As(err, &te) {
				t.Fatalf("%T %v is not a TokenError", err, err)
			}
			return
		}
		if _, err := jwt.Parse(string(tok), func(*jwt.Token) (any, error) { return fuzzSecret, nil },
			jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
			jwt.WithTimeFunc(func() time.Time { return t0 }), jwt.WithLeeway(DefaultLeeway)); err != nil {
			t.Fatalf("Verify accepted what the library refuses: %v", err)
		}
		_ = g.CanSub([]byte("x"))
	})
}

// FuzzClaims signs arbitrary payloads properly, so the claim checks and
// the ch parser see hostile JSON behind a valid signature.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"exp":1700003600,"iss":"iss","sub":"u","ch":{"sub":["room.*","a"],"pub":["*"]}}`))
	f.Add([]byte(`{"exp":1700003600,"iss":"iss","ch":{"sub":"x"}}`))
	f.Add([]byte(`{"exp":"soon","iss":"iss"}`))
	f.Add([]byte(`{"exp":1e400,"iss":"iss"}`))
	f.Add([]byte(`{"exp":1700003600,"nbf":1800000000,"iss":"iss","ch":null}`))
	v := fuzzVerifier(f)
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		signing := head + "." + base64.RawURLEncoding.EncodeToString(payload)
		mac := hmac.New(sha256.New, fuzzSecret)
		mac.Write([]byte(signing))
		tok := signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		g, err := v.Verify([]byte(tok))
		if err != nil {
			var te TokenError
			if !errors.As(err, &te) {
				t.Fatalf("%T %v is not a TokenError", err, err)
			}
			return
		}
		if g.Exp() == 0 || g.Perms() == nil {
			t.Fatalf("grant without exp or perms: %+v", g)
		}
		// Interning is idempotent: the canonical form re-interns to itself.
		s := g.Perms().String()
		sub, pub, _ := strings.Cut(s, "|")
		again, err := v.Perms().Make(splitList(sub), splitList(pub))
		if err != nil || again != g.Perms() {
			t.Fatalf("canonical %q does not re-intern to the same set (%v)", s, err)
		}
	})
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// FuzzPerms checks the set against the linear-scan specification.
func FuzzPerms(f *testing.F) {
	f.Add("room.*,lobby,a*", "room.x")
	f.Add("*", "x")
	f.Add("ab*,a*,abc", "ab")
	tab := NewPermTable()
	f.Fuzz(func(t *testing.T, list, ch string) {
		pats := splitList(list)
		p, err := tab.Make(pats, nil)
		if err != nil {
			return
		}
		if got, want := p.CanSub([]byte(ch)), naiveAllows(pats, ch); got != want {
			t.Fatalf("%q (canonical %q): CanSub(%q) = %v, want %v", pats, p, ch, got, want)
		}
	})
}

// FuzzTokenSources: the header and query extractors return a part of
// their input (or a decoded copy) and never panic.
func FuzzTokenSources(f *testing.F) {
	f.Add([]byte("Bearer abc.def"))
	f.Add([]byte("a=1&token=a%2Eb&token=c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok, ok := BearerToken(b); ok && !bytes.Contains(b, tok) {
			t.Fatalf("BearerToken(%q) = %q, not a part of the input", b, tok)
		}
		QueryToken(b)
	})
}
