package gate

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pires/go-proxyproto"
)

func proxyHeader(t *testing.T, version byte, cmd proxyproto.ProtocolVersionAndCommand, src, dst string) []byte {
	t.Helper()
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	tp := proxyproto.TCPv4
	if s.Addr().Is6() {
		tp = proxyproto.TCPv6
	}
	h := &proxyproto.Header{Version: version, Command: cmd, TransportProtocol: tp,
		SourceAddr: net.TCPAddrFromAddrPort(s), DestinationAddr: net.TCPAddrFromAddrPort(d)}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProxyHeader(t *testing.T) {
	req := []byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
	tlv := proxyHeader(t, 2, proxyproto.PROXY, "198.51.100.4:5000", "10.0.0.1:443")
	tlv = append(tlv[:len(tlv):len(tlv)], 0x04, 0, 3, 'a', 'b', 'c') // a NOOP TLV
	tlv[15] += 6
	cases := []struct {
		name string
		hdr  []byte
		want string // "" = no address carried
	}{
		{"v1 tcp4", proxyHeader(t, 1, proxyproto.PROXY, "198.51.100.4:5000", "10.0.0.1:443"), "198.51.100.4"},
		{"v1 tcp6", proxyHeader(t, 1, proxyproto.PROXY, "[2001:db8::7]:5000", "[2001:db8::1]:443"), "2001:db8::7"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v2 tcp4", proxyHeader(t, 2, proxyproto.PROXY, "198.51.100.4:5000", "10.0.0.1:443"), "198.51.100.4"},
		{"v2 tcp6", proxyHeader(t, 2, proxyproto.PROXY, "[2001:db8::7]:5000", "[2001:db8::1]:443"), "2001:db8::7"},
		{"v2 local", proxyHeader(t, 2, proxyproto.LOCAL, "198.51.100.4:5000", "10.0.0.1:443"), ""},
		{"v2 with TLV", tlv, "198.51.100.4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := append(append([]byte(nil), tc.hdr...), req...)
			// Every split point: a prefix of the header waits for more.
			for k := range len(tc.hdr) {
				if n, _, err := ParseProxyHeader(in[:k]); n != 0 || err != nil {
					t.Fatalf("prefix %d/%d: n=%d err=%v, want need-more", k, len(tc.hdr), n, err)
				}
			}
			n, src, err := ParseProxyHeader(in)
			if err != nil || n != len(tc.hdr) {
				t.Fatalf("n=%d err=%v, want n=%d", n, err, len(tc.hdr))
			}
			if !bytes.Equal(in[n:], req) {
				t.Fatal("consumed bytes beyond the header")
			}
			if (tc.want == "") != !src.IsValid() || tc.want != "" && src != netip.MustParseAddr(tc.want) {
				t.Fatalf("src %v, want %q", src, tc.want)
			}
		})
	}
}

func TestParseProxyHeaderRefusals(t *testing.T) {
	v2 := proxyHeader(t, 2, proxyproto.PROXY, "198.51.100.4:5000", "10.0.0.1:443")
	big := append([]byte(nil), v2[:16]...)
	big[14], big[15] = 0xff, 0xff
	badCmd := append([]byte(nil), v2...)
	badCmd[12] = 0x2f
	for name, b := range map[string][]byte{
		"plain HTTP":           []byte("GET / HTTP/1.1\r\n"),
		"P but not PROXY":      []byte("POST"),
		"v1 too long":          append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 120)...),
		"v1 bad address":       []byte("PROXY TCP4 1.2.3 10.0.0.1 5000 443\r\n"),
		"v1 LF only":           []byte("PROXY TCP4 1.2.3.4 10.0.0.1 5000 443\n"),
		"v2 length too large":  big,
		"v2 bad command":       badCmd,
		"v2 signature mangled": append([]byte("\r\n\r\n\x00\r\nQUIX"), v2[12:]...),
	} {
		n, _, err := ParseProxyHeader(b)
		if err == nil || n != 0 {
			t.Errorf("%s: n=%d err=%v, want an error", name, n, err)
		}
	}
	if _, _, err := ParseProxyHeader([]byte("GET")); !errors.Is(err, ErrNoProxyHeader) {
		t.Errorf("GET: %v", err)
	}
}

func BenchmarkParseProxyHeaderV1(b *testing.B) {
	h := []byte("PROXY TCP4 198.51.100.4 10.0.0.1 5000 443\r\nGET / HTTP/1.1\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if n, _, err := ParseProxyHeader(h); n == 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}
