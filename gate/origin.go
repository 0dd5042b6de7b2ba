package gate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxOrigin bounds an Origin value worth looking at: a scheme, "://", a
// 253-byte host and ":65535" fit; anything longer is refused unread.
const maxOrigin = 300

// Origins decides whether a browser Origin may connect (-allowed-origins,
// -require-origin). Patterns are "scheme://host[:port]" compared exactly
// (ASCII case-insensitively, as browsers serialise lower case), or with a
// host "*.example.com", which admits any subdomain at any depth
// (a.example.com, a.b.example.com) but not example.com itself. Scheme and
// port are always exact: "https://app.example.com" does not admit
// "https://app.example.com:8443" or "http://app.example.com".
//
// A nil *Origins, or one with no patterns, admits every Origin.
type Origins struct {
	exact   map[string]struct{}
	wild    []wildOrigin
	require bool
}

// wildOrigin is "https://*.example.com:8443" split around the star.
type wildOrigin struct {
	prefix string // "https://"
	suffix string // ".example.com:8443"
}

// ParseOrigins parses the comma-separated pattern list. require refuses
// requests without an Origin header (by default they pass: non-browser
// clients send none, and only browsers need protecting from cross-site
// pages). Errors name the flag and the pattern.
func ParseOrigins(list string, require bool) (*Origins, error) {
	o := &Origins{exact: make(map[string]struct{}), require: require}
	for p := range strings.SplitSeq(list, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if err := o.add(p); err != nil {
			return nil, fmt.Errorf("-allowed-origins: %q: %w", p, err)
		}
	}
	return o, nil
}

func (o *Origins) add(p string) error {
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok || !validScheme(scheme) {
		return fmt.Errorf("want scheme://host[:port]")
	}
	if strings.ContainsAny(rest, "/?#@") {
		return fmt.Errorf("an origin has no path, query or user (want scheme://host[:port])")
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("bad port %q", port)
		}
		port = ":" + port
	}
	if domain, ok := strings.CutPrefix(host, "*."); ok {
		if !validHost(domain) {
			return fmt.Errorf("bad host after '*.'")
		}
		o.wild = append(o.wild, wildOrigin{prefix: scheme + "://", suffix: "." + domain + port})
		return nil
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if a, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil || !a.Is6() {
			return fmt.Errorf("bad IPv6 literal %s", host)
		}
	} else if !validHost(host) {
		return fmt.Errorf("bad host %q ('*' only as a leading '*.')", host)
	}
	o.exact[p] = struct{}{}
	return nil
}

// Allow decides for a raw Origin header value; nil or empty means the
// header was absent. It does not allocate.
func (o *Origins) Allow(origin []byte) bool {
	if len(origin) == 0 {
		return o == nil || !o.require
	}
	if o == nil || len(o.exact) == 0 && len(o.wild) == 0 {
		return true
	}
	if len(origin) > maxOrigin {
		return false
	}
	var buf [maxOrigin]byte
	low := buf[:len(origin)]
	for i, c := range origin {
		low[i] = lower(c)
	}
	if _, ok := o.exact[string(low)]; ok {
		return true
	}
	for _, w := range o.wild {
		if len(low) <= len(w.prefix)+len(w.suffix) ||
			string(low[:len(w.prefix)]) != w.prefix ||
			string(low[len(low)-len(w.suffix):]) != w.suffix {
			continue
		}
		if validLabels(low[len(w.prefix) : len(low)-len(w.suffix)]) {
			return true
		}
	}
	return false
}

// validScheme: RFC 3986 scheme, lower case.
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validHost: a lower-case DNS name (letters, digits, '-', dots between
// non-empty labels), at most 253 bytes.
func validHost(s string) bool { return len(s) <= 253 && validLabels([]byte(s)) }

func validLabels(b []byte) bool {
	if len(b) == 0 || b[0] == '.' || b[len(b)-1] == '.' {
		return false
	}
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case c == '.' && b[i-1] != '.':
		default:
			return false
		}
	}
	return true
}
