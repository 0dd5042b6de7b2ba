package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/gate"
)

// -tokens: every connection sends a token of its own (a distinct sub, the
// same ch), so a run measures what the gate costs per connection. With
// -spawn the server gets the secret as -jwt-secret-file: the one given, or
// a fresh random one in a temporary file removed after the run; with -url
// the running server's secret file must be given to sign with.

// tokenTTL is added to the run's time cap for the tokens' exp: no token
// expires during a run.
const tokenTTL = time.Hour

// tokens prepares the session's token spec and returns the serve flags
// that give a spawned server the key.
func (s *session) tokens(o *Opts) ([]string, error) {
	if !o.Tokens {
		return nil, nil
	}
	path := o.JWTSecretFile
	if path == "" {
		f, err := os.CreateTemp("", "starling-bench-secret-*")
		if err != nil {
			return nil, fmt.Errorf("-tokens: secret file: %w", err)
		}
		var key [32]byte
		rand.Read(key[:])
		_, err = f.WriteString(hex.EncodeToString(key[:]) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		path = f.Name()
		s.clean = func() { os.Remove(path) }
		if err != nil {
			return nil, fmt.Errorf("-tokens: secret file: %w", err)
		}
	}
	secret, err := gate.LoadSecret(path)
	if err != nil {
		return nil, err
	}
	s.token = &worker.TokenSpec{Secret: secret, Exp: time.Now().Add(o.Timeout + tokenTTL).Unix()}
	if !o.Spawn {
		return nil, nil
	}
	return []string{"-jwt-secret-file", path}, nil
}

// giveTokens tells every worker to sign a token for each connection it
// dials from now on, the sub prefixed with the worker's index so that
// every connection of the run has a sub of its own.
func (s *session) giveTokens(ctx context.Context) error {
	if s.token == nil {
		return nil
	}
	_, err := s.fl.Each(ctx, func(i int, p *worker.Proc) (worker.Cmd, bool) {
		t := *s.token
		t.SubPrefix = fmt.Sprintf("w%03d-", p.Index)
		return worker.Cmd{Op: "token", Token: &t}, true
	})
	if err != nil {
		return fmt.Errorf("-tokens: %w", err)
	}
	return nil
}
