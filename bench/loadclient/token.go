package loadclient

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/starling-ws/starling/bench/worker"
)

// tokenRequest is the batch's upgrade request with an Authorization
// header carrying connection idx's own token (worker.TokenSpec): what an
// authenticated client sends, so the server verifies one token per
// connection and keeps one grant each.
func tokenRequest(req []byte, spec *worker.TokenSpec, idx int) ([]byte, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": fmt.Sprintf("%s%07d", spec.SubPrefix, idx),
		"exp": spec.Exp,
		"iat": time.Now().Unix(),
		"ch":  map[string][]string{"sub": {"*"}, "pub": {"*"}},
	}).SignedString(spec.Secret)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	// req ends with the blank line; the header goes before it.
	out := make([]byte, 0, len(req)+len(tok)+32)
	out = append(out, req[:len(req)-2]...)
	out = append(out, "Authorization: Bearer "...)
	out = append(out, tok...)
	return append(out, "\r\n\r\n"...), nil
}
