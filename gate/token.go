package gate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxToken is the longest token accepted (longer: TokenMalformed). A
// handshake is at most frame.MaxRequest bytes anyway; the bound also
// applies to tokens sent in an auth op.
const MaxToken = 8 << 10

// DefaultLeeway is the clock skew allowed between the token issuer and
// this node on exp, nbf and iat: a token is accepted until exp+leeway and
// from nbf-leeway. Issuers and gateways are servers with synchronised
// clocks, so seconds suffice; a larger value only extends stolen tokens.
const DefaultLeeway = 5 * time.Second

// TokenConfig configures a Verifier. At least one key is required.
type TokenConfig struct {
	Secret    []byte           // HMAC key: HS256/384/512 (see LoadSecret)
	PublicKey crypto.PublicKey // RSA (RS*, PS*), ECDSA (ES* per curve) or Ed25519 (EdDSA) (see LoadPublicKey)
	Issuer    string           // if set, iss must equal it
	Audience  string           // if set, aud must contain it
	Leeway    time.Duration    // allowed clock skew; cmd uses DefaultLeeway
	Now       func() time.Time // nil: time.Now (tests pass a manual clock)
}

// Verifier checks tokens and turns them into Grants. It is safe for
// concurrent use; Verify is meant to run once per connection (handshake or
// auth op), never per message.
//
// Two paths decide a token. The fast path (token_fast.go) verifies the
// common token without allocating: it answers only when it is sure, and
// leaves everything else (any refusal but a bad signature, any claim
// shape it does not read) to golang-jwt's parser, the library path
// (token_lib.go), which also names the failed check. A fuzz test holds
// the two to the same verdicts.
type Verifier struct {
	parser *jwt.Parser
	keyFn  jwt.Keyfunc // keyFor, bound once (a method value per call would allocate)
	secret any         // the []byte HMAC key, boxed once for keyFor
	pub    crypto.PublicKey
	algs   []string // what the configured keys allow; nothing else verifies
	leeway int64    // whole seconds, rounded up (a grant's expiry)
	now    func() time.Time
	perms  *PermTable
	fast   fastPath
}

// errAlg is returned by the key lookup for an algorithm no configured key
// allows; the parser wraps it, classify finds it.
var errAlg = errors.New("algorithm not allowed")

// NewVerifier checks the configuration. The key types decide the allowed
// algorithms, so a token can never choose how it is checked: "none" is
// never allowed, and a public key is never handed to HMAC (the classic
// algorithm-confusion forgery).
func NewVerifier(cfg TokenConfig) (*Verifier, error) {
	v := &Verifier{secret: cfg.Secret, pub: cfg.PublicKey, perms: NewPermTable()}
	v.keyFn = v.keyFor
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < MinSecret {
			return nil, fmt.Errorf("jwt secret: %d bytes, at least %d required", len(cfg.Secret), MinSecret)
		}
		v.algs = append(v.algs, "HS256", "HS384", "HS512")
	}
	if cfg.PublicKey != nil {
		algs, err := publicKeyAlgs(cfg.PublicKey)
		if err != nil {
			return nil, err
		}
		v.algs = append(v.algs, algs...)
	}
	if len(v.algs) == 0 {
		return nil, errors.New("jwt: no key configured")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwt leeway must be >= 0, got %v", cfg.Leeway)
	}
	v.leeway = int64((cfg.Leeway + time.Second - 1) / time.Second)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		// No WithValidMethods: keyFor refuses other algorithms with
		// errAlg, which classify can tell from a bad signature.
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	v.now = now
	v.fast.init(cfg)
	return v, nil
}

// publicKeyAlgs maps a key to the algorithms it can verify. An ECDSA key
// fixes its hash by its curve (RFC 7518 3.4).
func publicKeyAlgs(k crypto.PublicKey) ([]string, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("jwt public key: RSA %d bits, at least 2048 required", k.N.BitLen())
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("jwt public key: unsupported curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("jwt public key: unsupported key type %T", k)
}

// Algorithms lists the algorithms the configured keys allow.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Perms is the verifier's intern table (for metrics: Len).
func (v *Verifier) Perms() *PermTable { return v.perms }

// Verify checks tok (the compact JWT, without "Bearer ") and returns its
// grant, allocated for the session to keep (see Grant). A non-nil error is
// always a TokenError naming the failed check.
func (v *Verifier) Verify(tok []byte) (*Grant, error) {
	switch {
	case len(tok) == 0:
		return nil, TokenMissing
	case len(tok) > MaxToken:
		return nil, TokenMalformed
	}
	if g, err, ok := v.verifyFast(tok); ok {
		return g, err
	}
	return v.verifyLib(tok)
}
