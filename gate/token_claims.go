package gate

import (
	"encoding/json"
	"unsafe"
)

// The fast path's reading of a token's header and claims: it fills the
// same claims value encoding/json would (the library path decodes into
// that type), for the shapes it reads exactly as encoding/json does, and
// declines (false: the library path decides) on everything else:
//
//   - a key with an escape or a non-ASCII byte, or one that matches a
//     claim's name only case-insensitively (encoding/json folds case, and
//     Unicode: "ſub" is sub), or a claim given twice (encoding/json keeps
//     the last);
//   - a string value with an escape or invalid UTF-8 (encoding/json
//     unescapes, or replaces bad bytes with U+FFFD);
//   - a claim of another JSON type than the one the claims field decodes,
//     and more than maxFastList entries in a list.
//
// Strings point into the decoded token (scratch memory): whatever outlives
// the verification is copied (newGrant, PermTable.intern).

// maxFastList bounds each list the fast path reads (ch.sub, ch.pub, aud);
// a token with more takes the library path.
const maxFastList = 16

// claimLists is where the claims' lists point: fixed arrays in the scratch.
type claimLists struct {
	sub, pub, aud [maxFastList]string
}

var (
	claimNames = [...]string{claimExp: "exp", claimNbf: "nbf", claimIat: "iat", claimIss: "iss", claimSub: "sub", claimAud: "aud", claimCh: "ch"}
	chNames    = [...]string{"sub", "pub"}
)

const (
	claimExp = iota
	claimNbf
	claimIat
	claimIss
	claimSub
	claimAud
	claimCh
)

const (
	keyDecline = -2 // the library path must read this key
	keyUnknown = -1 // ignored, as encoding/json ignores it
)

// keyIndex finds key among names: its index, keyUnknown, or keyDecline.
func keyIndex(key []byte, names []string) int {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return keyDecline
		}
	}
	for i, n := range names {
		if string(key) == n {
			return i
		}
		if asciiEqualFold(key, n) {
			return keyDecline
		}
	}
	return keyUnknown
}

// headerAlg reads the alg of a token header: a JSON object whose "alg"
// member is a plain string. The library decodes the header into a map and
// reads only alg, so every other member is ignored.
func headerAlg(h []byte) ([]byte, bool) {
	if !json.Valid(h) {
		return nil, false
	}
	it, ok := openJSON(h, 0, '{')
	if !ok {
		return nil, false
	}
	var alg []byte
	for {
		key, val, more := it.next()
		if !more {
			break
		}
		for _, c := range key {
			if c == '\\' {
				return nil, false // might decode to "alg"
			}
		}
		if string(key) != "alg" {
			continue
		}
		s, ok := plainString(val)
		if !ok || alg != nil {
			return nil, false
		}
		alg = s
	}
	return alg, it.ok() && alg != nil
}

// readClaims fills c from a payload, or declines.
func readClaims(p []byte, c *claims, l *claimLists) bool {
	return json.Valid(p) && members(p, claimNames[:], func(k int, val []byte) bool {
		var ok bool
		switch k {
		case claimExp:
			ok = c.Exp.parse(val) == nil
		case claimNbf:
			ok = c.Nbf.parse(val) == nil
		case claimIat:
			ok = c.Iat.parse(val) == nil
		case claimIss:
			c.Iss, ok = stringOrNull(val)
		case claimSub:
			c.Sub, ok = stringOrNull(val)
		case claimAud:
			ok = readAudience(val, c, l)
		case claimCh:
			ok = readCh(val, c, l)
		}
		return ok
	})
}

// members walks the object v and calls read with each member whose key is
// one of names (by index). It declines on a key it must not judge
// (keyIndex), a name given twice, or read's false.
func members(v []byte, names []string, read func(k int, val []byte) bool) bool {
	it, ok := openJSON(v, 0, '{')
	if !ok {
		return false
	}
	var seen uint16
	for {
		key, val, more := it.next()
		if !more {
			break
		}
		k := keyIndex(key, names)
		switch {
		case k == keyUnknown:
			continue
		case k == keyDecline, seen&(1<<k) != 0:
			return false
		}
		seen |= 1 << k
		if !read(k, val) {
			return false
		}
	}
	return it.ok()
}

// stringOrNull is a string field: a plain string, or null (which leaves
// the field empty, as encoding/json does).
func stringOrNull(v []byte) (string, bool) {
	if isNull(v) {
		return "", true
	}
	s, ok := plainString(v)
	return view(s), ok
}

// readAudience is jwt.ClaimStrings: a string, a list of strings, or null.
func readAudience(v []byte, c *claims, l *claimLists) bool {
	if len(v) > 0 && v[0] == '"' {
		s, ok := plainString(v)
		l.aud[0] = view(s)
		c.Aud = l.aud[:1]
		return ok
	}
	list, ok := stringList(v, l.aud[:0])
	c.Aud = list
	return ok
}

// readCh is the ch claim: null, or an object with sub and pub lists.
func readCh(v []byte, c *claims, l *claimLists) bool {
	if isNull(v) {
		c.Ch = chClaim{}
		return true
	}
	return members(v, chNames[:], func(k int, val []byte) bool {
		var ok bool
		if k == 0 {
			c.Ch.Sub, ok = stringList(val, l.sub[:0])
		} else {
			c.Ch.Pub, ok = stringList(val, l.pub[:0])
		}
		return ok
	})
}

// stringList is a []string field: null (nil), or an array of plain
// strings appended to dst (at most its capacity).
func stringList(v []byte, dst []string) ([]string, bool) {
	if isNull(v) {
		return nil, true
	}
	it, ok := openJSON(v, 0, '[')
	if !ok {
		return nil, false
	}
	for {
		_, val, more := it.next()
		if !more {
			break
		}
		s, ok := plainString(val)
		if !ok || len(dst) == cap(dst) {
			return nil, false
		}
		dst = append(dst, view(s))
	}
	return dst, it.ok()
}

// view is b as a string without a copy. The caller keeps b unchanged for
// as long as the string is used (the scratch, for one verification).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
