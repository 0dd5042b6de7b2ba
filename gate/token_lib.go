package gate

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// The library path: golang-jwt's parser decides every token the fast path
// leaves to it, and names the check a refused token failed. The claims
// type is shared by both paths: the parser decodes into it, the fast path
// fills it by hand (token_claims.go), and the checks after decoding read
// only it.

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

// claims is the token payload, decoded straight into concrete fields: the
// dates as values (numericDate), ch as its two lists. It implements
// jwt.Claims on the pointer, so the parser's validator reads the dates in
// place.
type claims struct {
	Exp numericDate      `json:"exp"`
	Nbf numericDate      `json:"nbf"`
	Iat numericDate      `json:"iat"`
	Iss string           `json:"iss"`
	Sub string           `json:"sub"`
	Aud jwt.ClaimStrings `json:"aud"`
	Ch  chClaim          `json:"ch"`
}

type chClaim struct {
	Sub []string `json:"sub"`
	Pub []string `json:"pub"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp.get(), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.Nbf.get(), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.Iat.get(), nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.Aud, nil }

// numericDate is a NumericDate claim held by value. jwt.NumericDate's own
// decoder allocates (a json.Number, a nested json.Unmarshal, a new date);
// this one parses the number in place with the same result: seconds with
// an optional fraction, truncated to jwt.TimePrecision; null is absent.
type numericDate struct {
	d   jwt.NumericDate
	set bool
}

// errNotNumber: a date claim that is not a JSON number (TokenMalformed,
// as the library reports it).
var errNotNumber = errors.New("date claim is not a number")

// errDateRange: a date claim beyond ±maxDate seconds (TokenBadClaims).
var errDateRange = errors.New("date claim beyond 2^53 seconds")

// maxDate bounds a date claim's magnitude in seconds: every integer up to
// it is exact in a float64, and it is far inside what int64(sec),
// time.Unix (which adds the seconds to year 1) and a grant's exp+leeway
// hold. Beyond it int64 of the float is the platform's choice (amd64
// gives math.MinInt64 for 1e19, arm64 math.MaxInt64) and time.Unix wraps:
// nbf 1e19 read as the distant past.
const maxDate = 1 << 53

func (n *numericDate) UnmarshalJSON(b []byte) error {
	return n.parse(b)
}

// parse reads a JSON number literal or null (absent): errNotNumber for
// anything else, errDateRange for a number beyond ±maxDate (or float64).
// The fast path declines on either, so the library path names it.
func (n *numericDate) parse(b []byte) error {
	if string(b) == "null" {
		*n = numericDate{}
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumber
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	switch {
	case err != nil && !math.IsInf(f, 0):
		return errNotNumber
	case err != nil || math.Abs(f) > maxDate:
		return errDateRange
	}
	sec, frac := math.Modf(f)
	n.d = jwt.NumericDate{Time: time.Unix(int64(sec), int64(frac*1e9)).Truncate(jwt.TimePrecision)}
	n.set = true
	return nil
}

func (n *numericDate) get() *jwt.NumericDate {
	if !n.set {
		return nil
	}
	return &n.d
}

// verifyLib is Verify by golang-jwt's parser.
func (v *Verifier) verifyLib(tok []byte) (*Grant, error) {
	var c claims
	if _, err := v.parser.ParseWithClaims(string(tok), &c, v.keyFn); err != nil {
		return nil, classify(err, &c)
	}
	if !c.Exp.set { // WithExpirationRequired makes this unreachable
		return nil, TokenMissingExp
	}
	return v.grant(&c)
}

// grant turns verified claims into the session's grant.
func (v *Verifier) grant(c *claims) (*Grant, error) {
	if len(c.Sub) > MaxUser {
		return nil, TokenBadClaims
	}
	perms, err := v.perms.Make(c.Ch.Sub, c.Ch.Pub)
	if err != nil {
		return nil, TokenBadClaims
	}
	return newGrant(perms, c.Sub, c.Exp.d.Unix()+v.leeway), nil
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
	case errors.As(err, &typeErr), errors.Is(err, errDateRange):
		return TokenBadClaims // well-formed JSON, a claim of the wrong type or a date out of range
	case errors.Is(err, jwt.ErrTokenMalformed):
		return TokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return TokenSignature
	case missing && !c.Exp.set:
		return TokenMissingExp
	case errors.Is(err, jwt.ErrTokenExpired):
		return TokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return TokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && c.Iss == "":
		return TokenIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing:
		return TokenAudience // the only other claim we require
	}
	return TokenBadClaims
}
