package gate

import (
	"fmt"
	"math"
	"testing"
)

// TestNumericDateRange: a date claim beyond ±2^53 seconds is refused as
// TokenBadClaims by both paths. On the old code (amd64) int64(sec) of such
// a float was the platform's conversion (1e19 became math.MinInt64) and
// time.Unix wrapped its seconds: nbf and iat of ±1e19 read as the distant
// past and the token was accepted, exp of 1e17, 9e18 or 2^53+2 was
// accepted (clamped to 2106 on the grant) while exp of 1e19 was "token
// expired", and 1e400 was "token malformed".
func TestNumericDateRange(t *testing.T) {
	v := fastVerifier(t)
	const base = `"iss":"iss","aud":"aud","sub":"u"`
	const maxDate = 1 << 53
	cases := []struct {
		claims string
		want   error
		exp    uint32 // the grant's expiry when accepted
	}{
		{`"exp":1e19`, TokenBadClaims, 0},
		{`"exp":-1e19`, TokenBadClaims, 0},
		{`"exp":9e18`, TokenBadClaims, 0},
		{`"exp":9223300000000000000`, TokenBadClaims, 0},
		{`"exp":1e17`, TokenBadClaims, 0},
		{`"exp":9007199254740994`, TokenBadClaims, 0}, // 2^53+2, the next float
		{`"exp":9007199254740993.5`, TokenBadClaims, 0},
		{`"exp":1e400`, TokenBadClaims, 0},
		{`"exp":-1e400`, TokenBadClaims, 0},
		{`"exp":1700003600,"nbf":1e19`, TokenBadClaims, 0},
		{`"exp":1700003600,"iat":1e19`, TokenBadClaims, 0},
		{`"exp":1700003600,"nbf":-1e19`, TokenBadClaims, 0},
		{`"exp":1700003600,"iat":-9007199254740994`, TokenBadClaims, 0},
		// A bad date outranks a bad signature, as the library decodes the
		// claims before it checks the signature.
		{`"exp":1700003600,"nbf":1e19,"x":"tamper"`, TokenBadClaims, 0},
		// The bound itself is a date (far future, clamped on the grant).
		{fmt.Sprintf(`"exp":%d`, maxDate), nil, math.MaxUint32},
		{fmt.Sprintf(`"exp":%d.0`, maxDate), nil, math.MaxUint32},
		{`"exp":9007199254740992e0`, nil, math.MaxUint32},
		{fmt.Sprintf(`"exp":1700003600,"nbf":-%d,"iat":-%d`, maxDate, maxDate), nil, 1700003605},
		{`"exp":1e-400`, TokenExpired, 0}, // underflows to 0: 1970
	}
	for _, tc := range cases {
		t.Run(tc.claims, func(t *testing.T) {
			tok := signRaw([]byte(hs256Header), []byte("{"+base+","+tc.claims+"}"))
			if tc.claims[len(tc.claims)-2:] == `r"` { // the tampered case
				tok[len(tok)-2] ^= 1
			}
			for _, path := range []struct {
				name   string
				verify func([]byte) (*Grant, error)
			}{{"Verify", v.Verify}, {"library", v.verifyLib}} {
				g, err := path.verify(tok)
				if err != tc.want {
					got := "no grant"
					if g != nil {
						got = fmt.Sprintf("grant exp %d", g.Exp())
					}
					t.Errorf("%s: %v (%s), want %v", path.name, err, got, tc.want)
					continue
				}
				if err == nil && g.Exp() != tc.exp {
					t.Errorf("%s: grant exp %d, want %d", path.name, g.Exp(), tc.exp)
				}
			}
			if g, err, decided := v.verifyFast(tok); decided && (err != tc.want || (err == nil && g.Exp() != tc.exp)) {
				t.Errorf("fast path decided %v, want %v", err, tc.want)
			}
		})
	}
}
