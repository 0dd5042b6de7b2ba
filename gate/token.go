package gate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
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
type Verifier struct {
	parser *jwt.Parser
	secret []byte
	pub    crypto.PublicKey
	algs   []string // what the configured keys allow; nothing else verifies
	leeway int64    // whole seconds, rounded up
	perms  *PermTable
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

// keyFor returns the key for the token's algorithm, by key type: the
// secret only for HS*, the public key only for the algorithms it allows.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) {
		return nil, errAlg
	}
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		return v.secret, nil
	}
	return v.pub, nil
}

// claims is the token payload: the registered claims plus ch, decoded
// only after the signature and time checks passed.
type claims struct {
	jwt.RegisteredClaims
	Ch json.RawMessage `json:"ch"`
}

type chClaim struct {
	Sub []string `json:"sub"`
	Pub []string `json:"pub"`
}

// Verify checks tok (the compact JWT, without "Bearer ") and returns its
// grant. A non-nil error is always a TokenError naming the failed check.
func (v *Verifier) Verify(tok []byte) (Grant, error) {
	switch {
	case len(tok) == 0:
		return Grant{}, TokenMissing
	case len(tok) > MaxToken:
		return Grant{}, TokenMalformed
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(string(tok), &c, v.keyFor); err != nil {
		return Grant{}, classify(err, &c)
	}
	if c.ExpiresAt == nil { // WithExpirationRequired makes this unreachable
		return Grant{}, TokenMissingExp
	}
	if len(c.Subject) > MaxUser {
		return Grant{}, TokenBadClaims
	}
	perms := Nothing
	if len(c.Ch) > 0 && string(c.Ch) != "null" {
		var ch chClaim
		if err := json.Unmarshal(c.Ch, &ch); err != nil {
			return Grant{}, TokenBadClaims
		}
		var err error
		if perms, err = v.perms.Make(ch.Sub, ch.Pub); err != nil {
			return Grant{}, TokenBadClaims
		}
	}
	return newGrant(perms, c.Subject, c.ExpiresAt.Unix()+v.leeway), nil
}

// classify maps the parser's error to the check that failed. The parser
// checks in this order: shape, algorithm, signature, then every claim at
// once (joined), so the claim checks are tested most-telling first. c holds
// whatever claims were decoded: the parser reports a missing exp, iss or
// aud alike (ErrTokenRequiredClaimMissing), so c tells which.
func classify(err error, c *claims) TokenError {
	var typeErr *json.UnmarshalTypeError
	missing := errors.Is(err, jwt.ErrTokenRequiredClaimMissing)
	switch {
	case errors.Is(err, errAlg), errors.Is(err, jwt.ErrTokenUnverifiable):
		return TokenAlgorithm // unknown, missing, "none", or not allowed by the keys
	case errors.As(err, &typeErr):
		return TokenBadClaims // well-formed JSON, a claim of the wrong type
	case errors.Is(err, jwt.ErrTokenMalformed):
		return TokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return TokenSignature
	case missing && c.ExpiresAt == nil:
		return TokenMissingExp
	case errors.Is(err, jwt.ErrTokenExpired):
		return TokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return TokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && c.Issuer == "":
		return TokenIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing:
		return TokenAudience // the only other claim we require
	}
	return TokenBadClaims
}
