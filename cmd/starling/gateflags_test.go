package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeFile writes a temporary file and returns its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func parseServe(args []string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := serveFlags(fs)
	err := fs.Parse(args)
	if err == nil {
		err = cfg.validate()
	}
	return cfg, err
}

// Files the gate's flags name are read at validation: bad contents fail
// the start with the flag's name, good ones fill the server's gate.
func TestGateFlagFiles(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub := writeFile(t, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	privDER, _ := x509.MarshalECPrivateKey(k)
	priv := writeFile(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}))
	secret := writeFile(t, "secret", []byte(strings.Repeat("s", 40)+"\n"))
	keys := writeFile(t, "keys", []byte("# backend\n"+strings.Repeat("k", 32)+"\n"))

	for _, bad := range []struct {
		args []string
		flag string
	}{
		{[]string{"-jwt-secret-file", writeFile(t, "short", []byte("too short\n"))}, "-jwt-secret-file"},
		{[]string{"-jwt-public-key", priv}, "-jwt-public-key"},
		{[]string{"-jwt-public-key", secret}, "-jwt-public-key"},
		{[]string{"-api-addr", "127.0.0.1:0", "-api-key-file", writeFile(t, "short-keys", []byte("short\n"))}, "-api-key-file"},
		{[]string{"-api-addr", "127.0.0.1:0", "-api-key-file", writeFile(t, "no-keys", []byte("# none\n"))}, "-api-key-file"},
		{[]string{"-api-addr", "127.0.0.1:0", "-api-key-file", keys, "-api-max-conns", "0"}, "-api-max-conns"},
		{[]string{"-api-addr", "127.0.0.1:0", "-api-key-file", keys, "-api-max-conns", "65537"}, "-api-max-conns"},
	} {
		_, err := parseServe(bad.args)
		if err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("%v: %v, want an error naming %s", bad.args, err, bad.flag)
		}
	}

	cfg, err := parseServe([]string{"-jwt-secret-file", secret, "-jwt-public-key", pub, "-jwt-issuer", "iss",
		"-allowed-origins", "https://*.example.com", "-max-conns-per-ip", "10", "-trusted-proxies", "10.0.0.0/8",
		"-accept-rate", "50", "-api-addr", "127.0.0.1:0", "-api-key-file", keys})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.server
	if s.Tokens == nil || s.Origins == nil || s.PerIP == nil || s.Proxies == nil || s.AcceptRate == nil || cfg.gate.apiKeys == nil {
		t.Fatalf("gate not filled: %+v", s)
	}
	if got := strings.Join(s.Tokens.Algorithms(), ","); got != "HS256,HS384,HS512,ES256" {
		t.Fatalf("algorithms %s", got)
	}
	if cfg, _ := parseServe(nil); cfg.server.Tokens != nil || cfg.server.AcceptRate != nil || cfg.server.PerIP != nil {
		t.Fatal("defaults turned a part of the gate on")
	}
}

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServeAPI runs serve with the API on a loopback port and extra
// flags; it returns the API's address and the running serve.
func startServeAPI(t *testing.T, key string, extra ...string) (string, *running) {
	t.Helper()
	keys := writeFile(t, "keys", []byte(key+"\n"))
	r := runServe(t, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "", "-api-addr", "127.0.0.1:0", "-api-key-file", keys, "-drain-timeout", "2s"}, extra...)...)
	m := regexp.MustCompile(`msg="api listening" addr=(\S+)`).FindStringSubmatch(r.logs.String())
	if m == nil {
		r.stop(t)
		t.Fatalf("no api listening line:\n%s", r.logs)
	}
	return m[1], r
}

// serve starts the API after the server, answers on it, and stops it when
// the drain begins; a server without a token key says it runs open, once.
func TestServeAPILifecycle(t *testing.T) {
	key := strings.Repeat("k", 32)
	addr, r := startServeAPI(t, key)
	logs := r.logs
	m := []string{"", addr}
	url := "http://" + m[1] + "/api/info"
	get := func(k string) (int, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-API-Key", k)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(key); code != 200 {
		t.Fatalf("GET /api/info: %d %v", code, err)
	}
	if code, err := get("wrong-key-0123456789abcdef"); code != 401 {
		t.Fatalf("GET /api/info with a wrong key: %d %v", code, err)
	}
	if n := strings.Count(logs.String(), "running open"); n != 1 {
		t.Fatalf("the open-server WARN line appears %d times:\n%s", n, logs)
	}
	r.stop(t)
	if _, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		t.Fatal("the API still accepts after the drain")
	}
}

// TestServeAPIMaxConns: -api-max-conns connections are served at once;
// one more waits (in the backlog, holding no descriptor of the server's)
// until one of them closes, then is served.
func TestServeAPIMaxConns(t *testing.T) {
	key := strings.Repeat("k", 32)
	addr, r := startServeAPI(t, key, "-api-max-conns", "2")
	defer r.stop(t)
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	get := func(timeout time.Duration) error {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/info", nil)
		req.Header.Set("X-API-Key", key)
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Not served while both slots are held: a wait that ends only by the
	// client's own timeout (a slow machine cannot make this pass wrongly).
	if err := get(300 * time.Millisecond); err == nil {
		t.Fatal("a third connection was served with -api-max-conns 2 held by two idle ones")
	}
	idle[0].Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("after one idle connection closed: %v", err)
	}
}
