package frame

import "encoding/json"

// The JSON envelope decoder: a hand-written scanner over one object that
// records where op, id, ch and data are. Values it does not interpret (id,
// data, unknown keys) are located by a structural skipper and then
// validated by encoding/json, so a malformed value is a 400, never a
// crash.

var (
	errMalformed   = &OpError{Code: CodeBadRequest, Msg: "malformed message"}
	errNotObject   = &OpError{Code: CodeBadRequest, Msg: "message must be an object"}
	errNotMap      = &OpError{Code: CodeBadRequest, Msg: "message must be a map"}
	errIDNotScalar = &OpError{Code: CodeBadRequest, Msg: "id must be a scalar"}
	errTrailing    = &OpError{Code: CodeBadRequest, Msg: "trailing bytes after message"}
)

// malformed returns the malformed error, carrying id when it was read.
func malformed(base *OpError, id []byte) *OpError {
	if id == nil {
		return base
	}
	return &OpError{Code: base.Code, Msg: base.Msg, ID: id}
}

// jsonObj walks the members of one JSON object in p: next returns each
// key (unescaped) and value span in turn. A structural fault ends the walk
// with bad set; the caller checks what follows with end.
type jsonObj struct {
	p    []byte
	i    int
	bad  bool
	done bool
}

// openObj starts a walk at p[i] (after whitespace), which must be '{'.
func openObj(p []byte, i int) (jsonObj, bool) {
	i = skipWS(p, i)
	if i >= len(p) || p[i] != '{' {
		return jsonObj{}, false
	}
	o := jsonObj{p: p, i: skipWS(p, i+1)}
	if o.i < len(p) && p[o.i] == '}' {
		o.i++
		o.done = true
	}
	return o, true
}

// next returns the next member; ok is false at the end or on a fault.
func (o *jsonObj) next() (key, v []byte, isStr, esc, ok bool) {
	if o.done || o.bad {
		return nil, nil, false, false, false
	}
	p, i := o.p, o.i
	if i >= len(p) || p[i] != '"' {
		o.bad = true
		return
	}
	ke, kesc := scanString(p, i)
	if ke < 0 {
		o.bad = true
		return
	}
	key = p[i+1 : ke-1]
	if kesc {
		key = unescape(p[i:ke])
	}
	i = skipWS(p, ke)
	if i >= len(p) || p[i] != ':' {
		o.bad = true
		return
	}
	vs := skipWS(p, i+1)
	if vs >= len(p) {
		o.bad = true
		return
	}
	isStr = p[vs] == '"'
	var ve int
	if isStr {
		ve, esc = scanString(p, vs)
	} else {
		ve = skipJSONValue(p, vs)
	}
	if ve < 0 {
		o.bad = true
		return
	}
	v = p[vs:ve]
	i = skipWS(p, ve)
	switch {
	case i >= len(p):
		o.bad = true
		return
	case p[i] == '}':
		o.i, o.done = i+1, true
	case p[i] == ',':
		o.i = skipWS(p, i+1)
	default:
		o.bad = true
		return
	}
	return key, v, isStr, esc, true
}

// end is the index after the object, or -1 if the walk hit a fault.
func (o *jsonObj) end() int {
	if o.bad || !o.done {
		return -1
	}
	return o.i
}

func decodeJSON(p []byte, f *opFields) *OpError {
	o, isObj := openObj(p, 0)
	if !isObj {
		if i := skipWS(p, 0); i < len(p) && json.Valid(p) {
			return errNotObject
		}
		return errMalformed
	}
	for {
		key, v, isStr, esc, more := o.next()
		if !more {
			break
		}
		var ok bool
		switch string(key) {
		case "op":
			f.hasOp, f.opIsStr = true, isStr
			if f.op, ok = nameField(v, isStr, esc); !ok {
				return malformed(errMalformed, f.id)
			}
		case "ch":
			f.hasCh, f.chIsStr = true, isStr
			if f.ch, ok = nameField(v, isStr, esc); !ok {
				return malformed(errMalformed, f.id)
			}
		case "token":
			f.hasToken, f.tokenIsStr = true, isStr
			if f.token, ok = nameField(v, isStr, esc); !ok {
				return malformed(errMalformed, f.id)
			}
		case "id":
			if !isStr && !json.Valid(v) {
				return malformed(errMalformed, f.id)
			}
			if v[0] == '{' || v[0] == '[' {
				return errIDNotScalar
			}
			f.id = v
		case "data":
			if !json.Valid(v) {
				return malformed(errMalformed, f.id)
			}
			f.hasData, f.data = true, v
		case "since":
			if !isStr && !json.Valid(v) {
				return malformed(errMalformed, f.id)
			}
			f.since = v
		default:
			if !isStr && !json.Valid(v) {
				return malformed(errMalformed, f.id)
			}
		}
	}
	end := o.end()
	if end < 0 {
		return malformed(errMalformed, f.id)
	}
	if skipWS(p, end) != len(p) {
		return malformed(errTrailing, f.id)
	}
	return nil
}

// strBody is the content of the JSON string s (quotes included in s),
// unescaped if it holds escapes (rare; allocates).
// nameField is the value of op or ch: a string's body, or any other value
// kept raw (the caller reports the wrong type) once it is well-formed.
func nameField(v []byte, isStr, esc bool) ([]byte, bool) {
	if isStr {
		return strBody(v, esc), true
	}
	return v, json.Valid(v)
}

func strBody(s []byte, esc bool) []byte {
	if esc {
		return unescape(s)
	}
	return s[1 : len(s)-1]
}

// unescape decodes a JSON string literal that scanString accepted.
func unescape(s []byte) []byte {
	var out string
	if json.Unmarshal(s, &out) != nil {
		return nil
	}
	return []byte(out)
}

func skipWS(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the string literal starting at p[i] == '"'. It returns
// the index after the closing quote (or -1 if the literal is malformed:
// unterminated, a raw control character, or a bad escape) and whether the
// literal holds escapes.
func scanString(p []byte, i int) (end int, esc bool) {
	for i++; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '"':
			return i + 1, esc
		case c < 0x20:
			return -1, false
		case c == '\\':
			esc = true
			i++
			if i >= len(p) {
				return -1, false
			}
			switch p[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) || !isHex(p[i+3]) || !isHex(p[i+4]) {
					return -1, false
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipJSONValue finds the end of the non-string value starting at p[i]:
// a bracketed object/array (strings inside skipped so their brackets do
// not count) or a scalar run. It checks structure only; the caller
// validates the span with encoding/json. Returns -1 if unterminated.
func skipJSONValue(p []byte, i int) int {
	switch p[i] {
	case '{', '[':
		depth := 0
		for i < len(p) {
			switch p[i] {
			case '"':
				e, _ := scanString(p, i)
				if e < 0 {
					return -1
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	s := i
	for i < len(p) {
		switch c := p[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'E':
			i++
			continue
		}
		break
	}
	if i == s {
		return -1
	}
	return i
}
