package frame

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
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

// ParseUpgrade looks at the bytes received so far on a new connection. If
// they do not yet hold a complete request head (and are within MaxRequest)
// it returns n == 0 and rej == nil: wait for more. Otherwise it either
// accepts (rej == nil, n = length of the request head, key = the client's
// Sec-WebSocket-Key) or rejects. Bytes after n are WebSocket frames.
//
// The returned Reject values are shared: do not modify them. key aliases b.
//
// Checks run in this order, so a request with several faults gets the
// first one: request line (400), HTTP version >= 1.1 (400), method (405),
// path (404), header syntax (400), Host/Upgrade/Connection/key (400),
// Sec-WebSocket-Version (400 if absent, 426 if not 13).
func ParseUpgrade(b []byte, path string) (n int, key []byte, rej *Reject) {
	end := bytes.Index(b, headEnd)
	if end < 0 {
		// A head that has reached the bound without its terminator can never
		// fit in it.
		if len(b) >= MaxRequest {
			return 0, nil, rejTooLarge
		}
		return 0, nil, nil
	}
	n = end + len(headEnd)
	if n > MaxRequest {
		return 0, nil, rejTooLarge
	}
	head := b[:end+2] // every line, the last one included, ends in CRLF

	line, head := cutLine(head)
	rl, ok := httphead.ParseRequestLine(line)
	switch {
	case !ok || bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0:
		return 0, nil, rejBadRequest
	case rl.Version.Major != 1 || rl.Version.Minor < 1:
		return 0, nil, rejBadRequest
	case string(rl.Method) != "GET":
		return 0, nil, rejBadMethod
	}
	uri := rl.URI
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri = uri[:q]
	}
	if string(uri) != path {
		return 0, nil, rejNotFound
	}

	var (
		seenHost, seenUpgrade, seenConn bool
		version                         []byte
		seenVersion                     bool
	)
	for len(head) > 0 {
		line, head = cutLine(head)
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' ||
			bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
			// Obsolete line folding or stray CR/LF: refuse rather than guess.
			return 0, nil, rejBadRequest
		}
		k, v, ok := httphead.ParseHeaderLine(line)
		if !ok || len(k) == 0 {
			return 0, nil, rejBadRequest
		}
		switch {
		case equalFold(k, "Host"):
			if seenHost {
				return 0, nil, rejBadRequest
			}
			seenHost = true
		case equalFold(k, "Upgrade"):
			seenUpgrade = seenUpgrade || hasProduct(v, "websocket")
		case equalFold(k, "Connection"):
			seenConn = seenConn || hasToken(v, "upgrade")
		case equalFold(k, "Sec-WebSocket-Version"):
			if seenVersion {
				return 0, nil, rejBadRequest
			}
			seenVersion, version = true, v
		case equalFold(k, "Sec-WebSocket-Key"):
			if key != nil || !validKey(v) {
				return 0, nil, rejBadRequest
			}
			key = v
		}
	}
	switch {
	case !seenHost, !seenUpgrade, !seenConn, key == nil, !seenVersion:
		return 0, nil, rejBadRequest
	case string(version) != "13":
		return 0, nil, rejBadVersion
	}
	return n, key, nil
}

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

// AppendAccept appends the 101 Switching Protocols response for key.
// It does not allocate for keys up to 92 bytes (a valid key is 24).
func AppendAccept(dst, key []byte) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "...)
	var sum [sha1.Size]byte
	if len(key)+len(acceptGUID) <= 128 {
		var in [128]byte
		m := copy(in[:], key)
		m += copy(in[m:], acceptGUID)
		sum = sha1.Sum(in[:m])
	} else {
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(acceptGUID))
		h.Sum(sum[:0])
	}
	dst = base64.StdEncoding.AppendEncode(dst, sum[:])
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

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}
