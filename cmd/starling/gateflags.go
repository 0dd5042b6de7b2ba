package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/gate"
)

// gateFlags are the gate's flags (issue 10) and the HTTP API's. The files
// they name are read by load, at validation, so that a bad file fails the
// start (exit 2) with the flag's name, never the first connection.
type gateFlags struct {
	jwtSecretFile, jwtPublicKey string
	jwtIssuer, jwtAudience      string
	allowedOrigins              string
	requireOrigin               bool
	maxConnsPerIP               int
	trustedProxies              string
	acceptRate                  float64
	acceptBurst                 int
	apiAddr, apiKeyFile         string
	apiMaxConns                 int

	apiKeys *api.Keys // loaded from apiKeyFile
}

// perIPv6Bits groups IPv6 clients by /64 for -max-conns-per-ip: a host is
// routinely given a whole /64, and counting each address would let it
// open the cap's worth of connections from each.
const perIPv6Bits = 64

func (g *gateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.jwtSecretFile, "jwt-secret-file", "", "HMAC secret (HS256/384/512, at least 32 bytes) for client tokens; with a key, every connection needs a token")
	fs.StringVar(&g.jwtPublicKey, "jwt-public-key", "", "PEM public key (RS*, PS*, ES*, EdDSA) for client tokens; with a key, every connection needs a token")
	fs.StringVar(&g.jwtIssuer, "jwt-issuer", "", "if set, a token's iss must equal it")
	fs.StringVar(&g.jwtAudience, "jwt-audience", "", "if set, a token's aud must contain it")
	fs.StringVar(&g.allowedOrigins, "allowed-origins", "", "browser Origins allowed, comma-separated (https://app.example.com, https://*.example.com); others get 403; empty: any")
	fs.BoolVar(&g.requireOrigin, "require-origin", false, "refuse (403) requests without an Origin header (non-browser clients)")
	fs.IntVar(&g.maxConnsPerIP, "max-conns-per-ip", 0, "open connections per client address (IPv6 per /64); beyond, 429; 0: no cap (memory: one table entry per address with connections)")
	fs.StringVar(&g.trustedProxies, "trusted-proxies", "", "CIDRs of proxies trusted to name the client (PROXY protocol v1/v2 header, X-Forwarded-For)")
	fs.Float64Var(&g.acceptRate, "accept-rate", 0, "handshakes per second (token bucket); beyond, 503 with a jittered Retry-After; 0: no limit")
	fs.IntVar(&g.acceptBurst, "accept-burst", 0, "handshakes the accept bucket lets through at once (0: one second's worth of -accept-rate)")
	fs.StringVar(&g.apiAddr, "api-addr", "", "HTTP API for backends (publish, broadcast, disconnect, channels, info), e.g. 127.0.0.1:8081; \"\" disables")
	fs.StringVar(&g.apiKeyFile, "api-key-file", "", "API keys, one per line (required with -api-addr)")
	fs.IntVar(&g.apiMaxConns, "api-max-conns", 64, "API connections served at once; more wait in the listen backlog, holding no descriptor (memory: N x (16 KiB headers + -max-message body + a goroutine))")
}

// load checks the flags, reads the files they name and fills the server's
// gate (s) and the API keys.
func (g *gateFlags) load(c *serveConfig) error {
	s := &c.server
	if err := g.loadTokens(c); err != nil {
		return err
	}
	var err error
	if g.allowedOrigins != "" || g.requireOrigin {
		if s.Origins, err = gate.ParseOrigins(g.allowedOrigins, g.requireOrigin); err != nil {
			return err
		}
	}
	switch {
	case g.maxConnsPerIP < 0:
		return fmt.Errorf("-max-conns-per-ip must be >= 0 (0: no cap), got %d", g.maxConnsPerIP)
	case g.maxConnsPerIP > 0:
		if s.PerIP, err = gate.NewPerIP(g.maxConnsPerIP, perIPv6Bits); err != nil {
			return err
		}
	}
	if g.trustedProxies != "" {
		if s.Proxies, err = gate.ParseProxies(g.trustedProxies); err != nil {
			return err
		}
	}
	if err := g.loadAcceptRate(c); err != nil {
		return err
	}
	return g.loadAPI()
}

func (g *gateFlags) loadTokens(c *serveConfig) error {
	tc := gate.TokenConfig{Issuer: g.jwtIssuer, Audience: g.jwtAudience, Leeway: gate.DefaultLeeway}
	var err error
	if g.jwtSecretFile != "" {
		if tc.Secret, err = gate.LoadSecret(g.jwtSecretFile); err != nil {
			return err
		}
	}
	if g.jwtPublicKey != "" {
		if tc.PublicKey, err = gate.LoadPublicKey(g.jwtPublicKey); err != nil {
			return err
		}
	}
	if tc.Secret == nil && tc.PublicKey == nil {
		switch {
		case g.jwtIssuer != "":
			return errors.New("-jwt-issuer needs a key (-jwt-secret-file or -jwt-public-key)")
		case g.jwtAudience != "":
			return errors.New("-jwt-audience needs a key (-jwt-secret-file or -jwt-public-key)")
		}
		return nil // open: server.Start says so in a WARN line
	}
	if c.server.Tokens, err = gate.NewVerifier(tc); err != nil {
		return fmt.Errorf("-jwt-secret-file/-jwt-public-key: %w", err)
	}
	return nil
}

func (g *gateFlags) loadAcceptRate(c *serveConfig) error {
	switch {
	case g.acceptBurst < 0:
		return fmt.Errorf("-accept-burst must be >= 0 (0: one second of -accept-rate), got %d", g.acceptBurst)
	case g.acceptRate == 0 && g.acceptBurst > 0:
		return errors.New("-accept-burst needs -accept-rate")
	case g.acceptRate == 0:
		return nil
	case !(g.acceptRate > 0) || g.acceptRate > 1e6:
		return fmt.Errorf("-accept-rate must be in (0, 1e6] handshakes per second (0: no limit), got %v", g.acceptRate)
	}
	burst := g.acceptBurst
	if burst == 0 {
		burst = int(math.Ceil(g.acceptRate))
	}
	var err error
	c.server.AcceptRate, err = gate.NewAcceptRate(g.acceptRate, burst, gate.DefaultMaxRetryAfter)
	return err
}

func (g *gateFlags) loadAPI() error {
	switch {
	case g.apiMaxConns < 1 || g.apiMaxConns > 1<<16:
		return fmt.Errorf("-api-max-conns must be in [1, %d], got %d", 1<<16, g.apiMaxConns)
	case g.apiAddr == "" && g.apiKeyFile != "":
		return errors.New("-api-key-file needs -api-addr")
	case g.apiAddr == "":
		return nil
	}
	if _, _, err := net.SplitHostPort(g.apiAddr); err != nil {
		return fmt.Errorf("-api-addr must be host:port or \"\", got %q", g.apiAddr)
	}
	if g.apiKeyFile == "" {
		return errors.New("-api-addr needs -api-key-file (the API refuses to run open)")
	}
	var err error
	g.apiKeys, err = api.LoadKeys(g.apiKeyFile)
	return err
}
