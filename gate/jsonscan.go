package gate

import "unicode/utf8"

// A reader for token JSON that encoding/json has already accepted
// (json.Valid): it walks one object's members or one array's elements and
// hands back raw value spans, without allocating. It never decides what
// a value means; token_claims.go does, and declines (returns false) on
// anything it does not read exactly as encoding/json would. Every index is
// still checked, so input that is not valid JSON ends a walk with ok
// false instead of a panic.

// jsonIter walks the members of an object or the elements of an array.
type jsonIter struct {
	p     []byte
	i     int
	close byte // '}' or ']'
	first bool
	done  bool // the closing bracket was reached
	bad   bool
}

// openJSON starts a walk over the object or array at p[i] (after
// whitespace); kind is '{' or '['.
func openJSON(p []byte, i int, kind byte) (jsonIter, bool) {
	i = skipSpace(p, i)
	if i >= len(p) || p[i] != kind {
		return jsonIter{}, false
	}
	end := byte('}')
	if kind == '[' {
		end = ']'
	}
	return jsonIter{p: p, i: i + 1, close: end, first: true}, true
}

// next moves to the next member (key and value) or element (value only;
// key nil). more is false at the end or on a fault (then ok reports false).
func (it *jsonIter) next() (key, val []byte, more bool) {
	if it.bad || it.done {
		return nil, nil, false
	}
	p := it.p
	i := skipSpace(p, it.i)
	if i < len(p) && p[i] == it.close {
		it.done = true
		return nil, nil, false
	}
	if i >= len(p) {
		it.bad = true
		return nil, nil, false
	}
	if !it.first {
		if p[i] != ',' {
			it.bad = true
			return nil, nil, false
		}
		i = skipSpace(p, i+1)
	}
	it.first = false
	if it.close == '}' {
		ke := stringEnd(p, i)
		if ke < 0 {
			it.bad = true
			return nil, nil, false
		}
		key = p[i+1 : ke-1]
		i = skipSpace(p, ke)
		if i >= len(p) || p[i] != ':' {
			it.bad = true
			return nil, nil, false
		}
		i = skipSpace(p, i+1)
	}
	ve := valueEnd(p, i)
	if ve < 0 {
		it.bad = true
		return nil, nil, false
	}
	it.i = ve
	return key, p[i:ve], true
}

// ok reports whether the walk reached the closing bracket.
func (it *jsonIter) ok() bool { return it.done && !it.bad }

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at p[i] ('"'),
// -1 if there is none.
func stringEnd(p []byte, i int) int {
	if i >= len(p) || p[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the value starting at p[i], -1 if
// there is none. Nested objects and arrays are skipped by depth.
func valueEnd(p []byte, i int) int {
	if i >= len(p) {
		return -1
	}
	switch p[i] {
	case '"':
		return stringEnd(p, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(p); j++ {
			switch p[j] {
			case '"':
				e := stringEnd(p, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(p) {
		switch p[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// plainString is the content of a JSON string value that decodes to its
// own bytes: no escapes, valid UTF-8 (encoding/json would replace invalid
// sequences). ok is false for anything else.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' || c == '"' {
			return nil, false
		}
	}
	return s, utf8.Valid(s)
}

// isNull reports whether v is the literal null.
func isNull(v []byte) bool { return string(v) == "null" }
