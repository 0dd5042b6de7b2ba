package gate

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// FuzzProxyHeader: whatever the bytes, the result is consistent with its
// own framing: a complete header parses the same alone, and each proper
// prefix of it asks for more.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.51.100.4 10.0.0.1 5000 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 198, 51, 100, 4, 10, 0, 0, 1, 0x13, 0x88, 1, 0xbb))
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24"), make([]byte, 36)...))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, src, err := ParseProxyHeader(b)
		if err != nil {
			if n != 0 || src.IsValid() {
				t.Fatal("error with a result")
			}
			return
		}
		if n == 0 {
			return // need more
		}
		if n > len(b) {
			t.Fatalf("n %d > len %d", n, len(b))
		}
		n2, src2, err2 := ParseProxyHeader(b[:n])
		if n2 != n || src2 != src || err2 != nil {
			t.Fatalf("header alone: %d %v %v, with tail: %d %v", n2, src2, err2, n, src)
		}
		for k := range n {
			if m, _, err := ParseProxyHeader(b[:k]); m != 0 || err != nil {
				t.Fatalf("prefix %d of a %d-byte header: %d %v", k, n, m, err)
			}
		}
	})
}

// FuzzXFF: the client is the peer or one of the hops, never anything else.
func FuzzXFF(f *testing.F) {
	f.Add(true, []byte("198.51.100.4, 10.0.0.1\n[2001:db8::1]:80"))
	f.Add(false, []byte("1.2.3.4"))
	f.Add(true, []byte("unknown,,::ffff:10.0.0.2:99"))
	p, _ := ParseProxies("10.0.0.0/8,2001:db8::/32")
	f.Fuzz(func(t *testing.T, trusted bool, data []byte) {
		peer := netip.MustParseAddr("203.0.113.1")
		if trusted {
			peer = netip.MustParseAddr("10.0.0.9")
		}
		values := bytes.Split(data, []byte{'\n'})
		got, err := p.ClientFromXFF(peer, values)
		if err != nil {
			if !trusted {
				t.Fatal("untrusted peer: header must be ignored")
			}
			return
		}
		if got == peer {
			return
		}
		if !trusted {
			t.Fatalf("untrusted peer, client %v", got)
		}
		for _, v := range values {
			for h := range bytes.SplitSeq(v, []byte{','}) {
				if a, err := parseHop(bytes.Trim(h, " \t")); err == nil && a == got {
					return
				}
			}
		}
		t.Fatalf("client %v is not a hop of %q", got, values)
	})
}

// FuzzOrigins: parsing never panics, and an accepted exact pattern admits
// the origin it spells (in any case).
func FuzzOrigins(f *testing.F) {
	f.Add("https://app.example.com", "https://APP.example.com")
	f.Add("https://*.example.com:8443", "https://a.example.com:8443")
	f.Add("http://[::1]:3000", "http://[::1]:3000")
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		o, err := ParseOrigins(pattern, false)
		if err != nil {
			return
		}
		_ = o.Allow([]byte(origin))
		p := strings.TrimSpace(pattern)
		if !strings.Contains(p, ",") && !strings.Contains(p, "*") && p != "" && len(p) <= maxOrigin &&
			!o.Allow([]byte(strings.ToUpper(p))) {
			t.Fatalf("pattern %q does not admit itself", p)
		}
	})
}
