package gate

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys are generated once per test binary (RSA generation is slow).
type testKeys struct {
	secret []byte
	rsa    *rsa.PrivateKey
	ec256  *ecdsa.PrivateKey
	ec384  *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		k := &keysVal
		k.secret = []byte("0123456789abcdef0123456789abcdef-test-secret")
		var err error
		if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return &keysVal
}

// pemOf is the PKIX PEM of a public key, as an operator's file holds it.
func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// clock is a manual clock for Verifier.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Unix(1_700_000_000, 0)

// sign makes a compact JWT of claims with method and key.
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) []byte {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// claimsAt is a valid claim set at time now with a one-hour expiry.
func claimsAt(now time.Time, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "u1",
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"ch":  map[string]any{"sub": []string{"room.*", "lobby"}, "pub": []string{"room.a"}},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func newVerifier(t testing.TB, cfg TokenConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
