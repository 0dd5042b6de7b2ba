package gate

// TokenError names the check a token failed. Its text is short, fixed and
// safe to send to the client: the server puts it in the HTTP 401 body
// (with WWW-Authenticate: Bearer error="invalid_token") and as the reason
// of a 4401 close (all fit the 123-byte close-reason limit). A TokenError
// boxed in an error does not allocate.
type TokenError uint8

const (
	TokenMissing     TokenError = iota + 1 // no token where one is required
	TokenMalformed                         // not a compact JWT, bad base64/JSON, or longer than MaxToken
	TokenSignature                         // signature does not verify with the configured key
	TokenAlgorithm                         // alg unknown, "none", or not one the configured keys allow
	TokenExpired                           // exp (+leeway) has passed
	TokenNotYetValid                       // nbf or iat (-leeway) is in the future
	TokenIssuer                            // iss differs from the configured issuer
	TokenAudience                          // aud lacks the configured audience
	TokenMissingExp                        // no exp claim
	TokenBadClaims                         // a claim of the wrong type, a date beyond ±2^53 s, or an invalid ch pattern
)

var tokenText = [...]string{
	TokenMissing:     "token missing",
	TokenMalformed:   "token malformed",
	TokenSignature:   "token signature invalid",
	TokenAlgorithm:   "token algorithm not allowed",
	TokenExpired:     "token expired",
	TokenNotYetValid: "token not valid yet",
	TokenIssuer:      "token issuer not accepted",
	TokenAudience:    "token audience not accepted",
	TokenMissingExp:  "token has no exp claim",
	TokenBadClaims:   "token claims invalid",
}

func (e TokenError) Error() string {
	if int(e) < len(tokenText) && tokenText[e] != "" {
		return tokenText[e]
	}
	return "token invalid"
}
