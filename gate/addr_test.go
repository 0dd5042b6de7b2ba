package gate

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func vals(v ...string) [][]byte {
	out := make([][]byte, len(v))
	for i, s := range v {
		out[i] = []byte(s)
	}
	return out
}

func TestClientFromXFF(t *testing.T) {
	p, err := ParseProxies("10.0.0.0/8, 192.168.1.7, 2001:db8::/32, ::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		peer string
		xff  [][]byte
		want string
		err  error
	}{
		{"untrusted peer ignores header", "203.0.113.9", vals("1.1.1.1"), "203.0.113.9", nil},
		{"trusted peer, no header", "10.1.2.3", nil, "10.1.2.3", nil},
		{"one hop", "10.1.2.3", vals("198.51.100.4"), "198.51.100.4", nil},
		{"client-forged left part ignored", "10.1.2.3", vals("6.6.6.6, 198.51.100.4"), "198.51.100.4", nil},
		{"trusted hops skipped", "10.1.2.3", vals("198.51.100.4, 10.9.9.9,192.168.1.7"), "198.51.100.4", nil},
		{"several header lines in order", "10.1.2.3", vals("6.6.6.6", "198.51.100.4, 10.0.0.1", "10.0.0.2"), "198.51.100.4", nil},
		{"all trusted: leftmost", "10.1.2.3", vals("10.0.0.1, 10.0.0.2"), "10.0.0.1", nil},
		{"ports dropped", "10.1.2.3", vals("198.51.100.4:5555"), "198.51.100.4", nil},
		{"ipv6 bracketed with port", "10.1.2.3", vals("[2001:db9::1]:443"), "2001:db9::1", nil},
		{"ipv6 bare", "10.1.2.3", vals("2001:db9::1"), "2001:db9::1", nil},
		{"trusted ipv6 hop skipped", "10.1.2.3", vals("198.51.100.4, 2001:db8::5"), "198.51.100.4", nil},
		{"mapped peer trusted", "::ffff:10.1.2.3", vals("198.51.100.4"), "198.51.100.4", nil},
		{"mapped hop unmapped", "10.1.2.3", vals("::ffff:198.51.100.4"), "198.51.100.4", nil},
		{"mapped CIDR", "172.16.0.9", vals("198.51.100.4"), "198.51.100.4", nil},
		{"garbage left of client ignored", "10.1.2.3", vals("unknown, 198.51.100.4"), "198.51.100.4", nil},
		{"garbage from a trusted hop", "10.1.2.3", vals("unknown"), "", ErrForwarded},
		{"empty element", "10.1.2.3", vals("198.51.100.4,,10.0.0.1"), "", ErrForwarded},
		{"zone refused", "10.1.2.3", vals("fe80::1%eth0"), "", ErrForwarded},
		{"bracket without close", "10.1.2.3", vals("[2001:db9::1"), "", ErrForwarded},
		{"too long", "10.1.2.3", vals(strings.Repeat("1", 65)), "", ErrForwarded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.ClientFromXFF(addr(tc.peer), tc.xff)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if tc.err == nil && got != addr(tc.want) {
				t.Fatalf("client %v, want %v", got, tc.want)
			}
		})
	}
	var none *Proxies
	if got, _ := none.ClientFromXFF(addr("10.1.2.3"), vals("1.1.1.1")); got != addr("10.1.2.3") {
		t.Error("nil Proxies trusts nobody")
	}
	if _, err := ParseProxies("10.0.0.0/33"); err == nil || !strings.Contains(err.Error(), "-trusted-proxies") {
		t.Errorf("bad CIDR: %v", err)
	}
}
