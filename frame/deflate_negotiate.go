package frame

import (
	"github.com/gobwas/httphead"
)

// permessage-deflate negotiation (RFC 7692 section 7.1).
//
// Starling compresses every message as a fresh deflate stream and inflates
// every client message with a fresh inflater, so no compression state lives
// with a connection. The response therefore always carries both
// server_no_context_takeover and client_no_context_takeover (7.1.1.1 and
// 7.1.1.2 let a server add them unasked). Window sizes:
//
//   - client_max_window_bits (with or without a value) only tells what the
//     client can do; our inflater accepts any window up to 15 bits, so the
//     offer is accepted and the parameter left out of the response, which
//     7.1.2.2 allows.
//   - server_max_window_bits=N asks that our back-references reach at most
//     2^N bytes. "No context" does not make that hold: within one message
//     the compressor refers back up to 32 KiB, and one compressed frame
//     serves every subscriber. Only N = 15 can be guaranteed, and 7.1.2.1
//     makes accepting it mean echoing a value <= N, so N = 15 is accepted
//     with server_max_window_bits=15 in the response; N < 15 is declined and
//     the next offer tried.
//
// The list is parsed here rather than with httphead.ScanOptions, which is
// lenient where a negotiation must be strict (a token after a token
// replaces the extension name, "x=" reads as "x" without a value, quoted
// pairs allocate); httphead's octet table still classifies token bytes.

const (
	deflateNoContext = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	deflateWith15    = deflateNoContext + "; server_max_window_bits=15"
)

var (
	deflateResponse       = []byte(deflateNoContext)
	deflateResponseWith15 = []byte(deflateWith15)
)

// NegotiateDeflate picks the first permessage-deflate offer it can honour
// from the raw Sec-WebSocket-Extensions header values, in order, and
// returns the single extension element to answer with. Offers with unknown,
// duplicate or malformed parameters, or a server window under 15 bits, are
// skipped; a header value that does not parse as an extension list offers
// nothing. The response is shared and read-only. It does not allocate.
func NegotiateDeflate(offers [][]byte) (response []byte, ok bool) {
	for _, v := range offers {
		if r, ok := negotiateList(v); ok {
			return r, true
		}
	}
	return nil, false
}

// deflateOffer is what one permessage-deflate element asked for.
type deflateOffer struct {
	seen       uint8 // paramX bits, to refuse duplicates
	serverBits uint8 // 0 if absent
	bad        bool
}

const (
	paramServerNoContext = 1 << iota
	paramClientNoContext
	paramServerBits
	paramClientBits
)

// negotiateList scans one header value (1#extension, RFC 6455 9.1 with the
// RFC 7230 list rules: OWS around separators, empty elements allowed). It
// reads the whole value before answering, so a value that breaks the
// grammar after a good offer still offers nothing.
func negotiateList(v []byte) (response []byte, ok bool) {
	i := 0
	for {
		i = skipOWS(v, i)
		if i == len(v) {
			return response, response != nil
		}
		if v[i] == ',' {
			i++
			continue
		}
		name, j := scanToken(v, i)
		if j == i {
			return nil, false
		}
		i = j
		ours := string(v[name:j]) == "permessage-deflate"
		var o deflateOffer
		for {
			i = skipOWS(v, i)
			if i == len(v) || v[i] == ',' {
				break
			}
			if v[i] != ';' {
				return nil, false
			}
			i = skipOWS(v, i+1)
			k, j := scanToken(v, i)
			if j == i {
				return nil, false
			}
			i = j
			var val []byte
			var buf [2]byte
			hasVal := false
			if e := skipOWS(v, i); e < len(v) && v[e] == '=' {
				hasVal = true
				if val, i, ok = scanValue(v, skipOWS(v, e+1), buf[:0]); !ok {
					return nil, false
				}
			}
			if ours {
				o.param(v[k:j], val, hasVal)
			}
		}
		if ours && response == nil && !o.bad {
			switch o.serverBits {
			case 0:
				response = deflateResponse
			case 15:
				response = deflateResponseWith15
			}
		}
	}
}

// param records one parameter of a permessage-deflate offer (7.1), marking
// the offer bad on anything the RFC says to decline.
func (o *deflateOffer) param(key, val []byte, hasVal bool) {
	var bit uint8
	switch string(key) {
	case "server_no_context_takeover":
		bit, o.bad = paramServerNoContext, o.bad || hasVal
	case "client_no_context_takeover":
		bit, o.bad = paramClientNoContext, o.bad || hasVal
	case "server_max_window_bits":
		bit = paramServerBits
		b, ok := windowBits(val)
		o.bad = o.bad || !hasVal || !ok
		o.serverBits = b
	case "client_max_window_bits":
		bit = paramClientBits
		if hasVal {
			_, ok := windowBits(val)
			o.bad = o.bad || !ok
		}
	default:
		o.bad = true
		return
	}
	if o.seen&bit != 0 {
		o.bad = true
	}
	o.seen |= bit
}

// windowBits parses a window size: 8..15 in decimal without a leading zero
// (7.1.2.1).
func windowBits(v []byte) (uint8, bool) {
	switch {
	case len(v) == 1 && v[0] >= '8' && v[0] <= '9':
		return v[0] - '0', true
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + v[1] - '0', true
	}
	return 0, false
}

// skipOWS skips spaces and tabs from v[i:].
func skipOWS(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// scanToken returns the end of the token starting at v[i] (i if none).
func scanToken(v []byte, i int) (start, end int) {
	end = i
	for end < len(v) && httphead.OctetTypes[v[end]].IsToken() {
		end++
	}
	return i, end
}

// scanValue reads a parameter value at v[i]: a token, or a quoted-string
// whose unescaped content is copied into buf (nil if it does not fit: no
// value we accept is longer than buf). It returns the value, the index
// after it, and false if there is no well-formed value.
func scanValue(v []byte, i int, buf []byte) (val []byte, next int, ok bool) {
	if i == len(v) || v[i] != '"' {
		s, e := scanToken(v, i)
		return v[s:e], e, e > s
	}
	fits := true
	for i++; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			if !fits {
				buf = nil
			}
			return buf, i + 1, true
		case c == '\\':
			if i++; i == len(v) || !quotable(v[i]) {
				return nil, i, false
			}
			c = v[i]
		case !quotable(c):
			return nil, i, false
		}
		if len(buf) == cap(buf) {
			fits = false
		} else {
			buf = append(buf, c)
		}
	}
	return nil, i, false // unterminated
}

// quotable reports whether c may appear in a quoted-string (qdtext, or the
// second byte of a quoted-pair): HTAB, SP, VCHAR, obs-text.
func quotable(c byte) bool { return c == '\t' || (c >= 0x20 && c != 0x7f) }
