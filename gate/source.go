package gate

import (
	"bytes"
	"net/url"
)

// The two places a token may come from in the upgrade request. Both take
// the raw spans frame.ParseUpgrade returns and alias them (no copy) unless
// the query value is percent-encoded.

// BearerToken extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive, RFC 6750 2.1). ok is false
// for any other scheme or an empty token.
func BearerToken(authorization []byte) (tok []byte, ok bool) {
	v := bytes.TrimLeft(authorization, " \t")
	const scheme = "bearer"
	if len(v) <= len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) ||
		(v[len(scheme)] != ' ' && v[len(scheme)] != '\t') {
		return nil, false
	}
	tok = bytes.Trim(v[len(scheme):], " \t")
	return tok, len(tok) > 0
}

// QueryToken extracts the first "token" parameter of a raw query string
// (the part after '?'). A percent-encoded value is decoded into a fresh
// slice; a JWT never needs encoding, so the usual case aliases query.
func QueryToken(query []byte) (tok []byte, ok bool) {
	for len(query) > 0 {
		var kv []byte
		kv, query, _ = bytes.Cut(query, []byte{'&'})
		k, v, _ := bytes.Cut(kv, []byte{'='})
		if string(k) != "token" {
			continue
		}
		if bytes.IndexAny(v, "%+") >= 0 {
			s, err := url.QueryUnescape(string(v))
			if err != nil {
				return nil, false
			}
			v = []byte(s)
		}
		return v, len(v) > 0
	}
	return nil, false
}

// asciiEqualFold compares b with a lower-case ASCII string s, ignoring
// the case of b, without allocating.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
