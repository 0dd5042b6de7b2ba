package frame

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/gobwas/httphead"
)

// MaxRequest is the largest HTTP upgrade request accepted (431 beyond it).
const MaxRequest = 8 << 10

// Reject is a handshake refusal: the HTTP status and a short reason for
// metrics ("bad_method", "bad_version", "bad_request", "not_found", "full",
// "too_large").
type Reject struct {
	Status int
	Reason string
}

// The refusals ParseUpgrade can produce. They are shared and must be
// treated as read-only by callers.
var (
	rejBadRequest = &Reject{Status: 400, Reason: "bad_request"}
	rejNotFound   = &Reject{Status: 404, Reason: "not_found"}
	rejBadMethod  = &Reject{Status: 405, Reason: "bad_method"}
	rejBadVersion = &Reject{Status: 426, Reason: "bad_version"}
	rejTooLarge   = &Reject{Status: 431, Reason: "too_large"}
)

var headEnd = []byte("\r\n\r\n")

// KeyLen is the length of a valid Sec-WebSocket-Key (base64 of 16 bytes).
const KeyLen = 24

// MaxHeaderValues bounds how many times each list header kept in an
// Upgrade (Sec-WebSocket-Extensions, X-Forwarded-For) may appear: a
// request with more is refused (400), so parsing never allocates.
const MaxHeaderValues = 8

// HeaderValues holds a repeatable header's values in arrival order.
type HeaderValues struct {
	n uint8
	v [MaxHeaderValues][]byte
}

// All is the values in arrival order (nil if the header was absent). The
// result aliases hv and the values alias the request buffer.
func (hv *HeaderValues) All() [][]byte {
	if hv.n == 0 {
		return nil
	}
	return hv.v[:hv.n]
}

// add appends v and reports false when the bound is reached.
func (hv *HeaderValues) add(v []byte) bool {
	if int(hv.n) == MaxHeaderValues {
		return false
	}
	hv.v[hv.n] = v
	hv.n++
	return true
}

// Upgrade is what an accepted upgrade request carries for the server.
//
// Key is a copy: it stays valid after the request buffer is reused (the
// 101 may be written after the buffer went back to a pool). Every other
// field aliases the buffer given to ParseUpgrade and is valid only while
// that buffer is: copy what must outlive it. A nil span means the header
// (or the query) was absent; an empty non-nil one, present but empty.
type Upgrade struct {
	Key           [KeyLen]byte // Sec-WebSocket-Key, copied
	Origin        []byte       // Origin (at most once)
	Authorization []byte       // raw Authorization value (at most once)
	Query         []byte       // raw query string after '?'
	Protocol      []byte       // Sec-WebSocket-Protocol (at most once)
	Extensions    HeaderValues // every Sec-WebSocket-Extensions value
	ForwardedFor  HeaderValues // every X-Forwarded-For value
}

// ParseUpgrade looks at the bytes received so far on a new connection. If
// they do not yet hold a complete request head (and are within MaxRequest)
// it returns n == 0 and rej == nil: wait for more. Otherwise it either
// accepts (rej == nil, n = length of the request head, *u filled in) or
// rejects. Bytes after n are WebSocket frames. *u is meaningful only on
// accept; see Upgrade for which fields alias b.
//
// The returned Reject values are shared: do not modify them.
//
// Checks run in this order, so a request with several faults gets the
// first one: request line (400; the version must be HTTP/1.x, one digit
// each, RFC 9112 2.3), HTTP version >= 1.1 (400), method (405), path (404),
// header syntax (400: no whitespace between name and colon, RFC 9112 5.1;
// no CR, LF or NUL in a value), Host/Upgrade/Connection/key, repeated
// single-valued headers, more than MaxHeaderValues of a list header (400),
// Sec-WebSocket-Version (400 if absent, 426 if not 13).
//
// It does not allocate.
func ParseUpgrade(b []byte, path string, u *Upgrade) (n int, rej *Reject) {
	end := bytes.Index(b, headEnd)
	if end < 0 {
		// A head that has reached the bound without its terminator can never
		// fit in it.
		if len(b) >= MaxRequest {
			return 0, rejTooLarge
		}
		return 0, nil
	}
	n = end + len(headEnd)
	if n > MaxRequest {
		return 0, rejTooLarge
	}
	head := b[:end+2] // every line, the last one included, ends in CRLF

	line, head := cutLine(head)
	rl, ok := httphead.ParseRequestLine(line)
	switch {
	case !ok || bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0:
		return 0, rejBadRequest
	case !strictVersion(line[len(rl.Method)+1+len(rl.URI)+1:]):
		// httphead accepts any number of digits and overflows on long ones
		// (HTTP/1.18446744073709551617 read as 1.1).
		return 0, rejBadRequest
	case rl.Version.Major != 1 || rl.Version.Minor < 1:
		return 0, rejBadRequest
	case string(rl.Method) != "GET":
		return 0, rejBadMethod
	}
	*u = Upgrade{}
	uri := rl.URI
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri, u.Query = uri[:q], uri[q+1:]
	}
	if string(uri) != path {
		return 0, rejNotFound
	}

	var (
		seenHost, seenUpgrade, seenConn, seenKey bool
		version                                  []byte
		seenVersion                              bool
	)
	for len(head) > 0 {
		line, head = cutLine(head)
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' ||
			bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, 0) >= 0 {
			// Obsolete line folding, stray CR/LF or NUL: refuse rather than
			// guess (RFC 9112 5.2, RFC 9110 5.5).
			return 0, rejBadRequest
		}
		k, v, ok := httphead.ParseHeaderLine(line)
		// httphead trims the name; "Host :" must be refused, not read as Host.
		if !ok || len(k) == 0 || line[len(k)] != ':' {
			return 0, rejBadRequest
		}
		switch {
		case equalFold(k, "Host"):
			if seenHost {
				return 0, rejBadRequest
			}
			seenHost = true
		case equalFold(k, "Upgrade"):
			seenUpgrade = seenUpgrade || hasProduct(v, "websocket")
		case equalFold(k, "Connection"):
			seenConn = seenConn || hasToken(v, "upgrade")
		case equalFold(k, "Sec-WebSocket-Version"):
			if seenVersion {
				return 0, rejBadRequest
			}
			seenVersion, version = true, v
		case equalFold(k, "Sec-WebSocket-Key"):
			if seenKey || !validKey(v) {
				return 0, rejBadRequest
			}
			seenKey = true
			copy(u.Key[:], v)
		case equalFold(k, "Origin"):
			ok = once(&u.Origin, v)
		case equalFold(k, "Authorization"):
			ok = once(&u.Authorization, v)
		case equalFold(k, "Sec-WebSocket-Protocol"):
			ok = once(&u.Protocol, v)
		case equalFold(k, "Sec-WebSocket-Extensions"):
			ok = u.Extensions.add(v)
		case equalFold(k, "X-Forwarded-For"):
			ok = u.ForwardedFor.add(v)
		}
		if !ok {
			return 0, rejBadRequest
		}
	}
	switch {
	case !seenHost, !seenUpgrade, !seenConn, !seenKey, !seenVersion:
		return 0, rejBadRequest
	case string(version) != "13":
		return 0, rejBadVersion
	}
	return n, nil
}

// once stores v in *dst unless a value is already there: these headers
// may appear once, and a repeat (which one would a proxy have checked?)
// is refused.
func once(dst *[]byte, v []byte) bool {
	if *dst != nil {
		return false
	}
	*dst = v
	return true
}

// strictVersion reports whether v is HTTP-version as RFC 9112 2.3 writes
// it: "HTTP/" DIGIT "." DIGIT.
func strictVersion(v []byte) bool {
	return len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// cutLine splits off the first CRLF-terminated line of b.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, headEnd[:2])
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+2:]
}

// equalFold is an ASCII case-insensitive comparison that does not
// allocate.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated token list v holds token.
func hasToken(v []byte, token string) (found bool) {
	httphead.ScanTokens(v, func(t []byte) bool {
		found = equalFold(t, token)
		return !found
	})
	return found
}

// hasProduct is hasToken for Upgrade, whose elements are products
// ("websocket", "h2c", "foo/2"): the '/' makes them non-tokens.
func hasProduct(v []byte, name string) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if equalFold(bytes.Trim(item, " \t"), name) {
			return true
		}
	}
	return false
}

// validKey reports whether a Sec-WebSocket-Key is base64 of 16 bytes
// (RFC 6455 4.2.1 item 5).
func validKey(v []byte) bool {
	if len(v) != 24 {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Strict().Decode(raw[:], v)
	return err == nil && n == 16
}

// acceptGUID is the RFC 6455 constant appended to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendAccept appends the 101 Switching Protocols response for key (the
// Upgrade's copied Sec-WebSocket-Key). It does not allocate.
func AppendAccept(dst []byte, key [KeyLen]byte) []byte { return AppendAcceptExt(dst, key, nil) }

// MaxAccept is the longest response AppendAcceptExt writes with an
// extension from NegotiateDeflate.
const MaxAccept = 256 + len(deflateWith15)

// AppendAcceptExt is AppendAccept answering with the negotiated extension
// element ext (from NegotiateDeflate) in Sec-WebSocket-Extensions; nil ext
// leaves the header out. It does not allocate.
func AppendAcceptExt(dst []byte, key [KeyLen]byte, ext []byte) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "...)
	var in [KeyLen + len(acceptGUID)]byte
	copy(in[copy(in[:], key[:]):], acceptGUID)
	sum := sha1.Sum(in[:])
	dst = base64.StdEncoding.AppendEncode(dst, sum[:])
	if ext != nil {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "...)
		dst = append(dst, ext...)
	}
	return append(dst, "\r\n\r\n"...)
}

// AppendReject appends a complete HTTP error response for rej (with
// "Sec-WebSocket-Version: 13" on 426, "Allow: GET" on 405, Connection: close).
// The body is the reason.
func AppendReject(dst []byte, rej *Reject) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(rej.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(rej.Status)...)
	dst = append(dst, "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	switch rej.Status {
	case 405:
		dst = append(dst, "Allow: GET\r\n"...)
	case 426:
		dst = append(dst, "Sec-WebSocket-Version: 13\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(rej.Reason)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, rej.Reason...)
	return append(dst, '\n')
}

// statusText is the reason phrase registered for code (RFC 9110 section
// 15, as net/http keeps it), so every status a Reject can carry (408 from
// the handshake deadline, 401/403/429 from admission) reads right.
// Clients must ignore the phrase; it is for the humans reading captures.
func statusText(code int) string {
	if s := http.StatusText(code); s != "" {
		return s
	}
	return "Error"
}
