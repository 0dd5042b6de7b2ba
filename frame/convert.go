package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// Conversion between the two encodings happens once per publish per
// encoding (never per recipient), so it may allocate. It goes through
// generic values: vmihailenco/msgpack and encoding/json do the decoding
// and encoding; this file only decides what is convertible.

// maxConvDepth bounds nesting in JSON values converted to msgpack (the
// walk recurses); msgpack values are bounded by JSONCompatible.
const maxConvDepth = 256

var (
	errNotJSON    = errors.New("frame: msgpack value not representable in JSON (ext, non-string map key, NaN/Inf, or nesting too deep)")
	errNumRange   = errors.New("frame: JSON number out of float64 range")
	errConvTrails = errors.New("frame: trailing bytes after value")
)

// msgpackToJSON converts one msgpack value to JSON: bin becomes a base64
// string (encoding/json's []byte rule), maps become objects (keys
// sorted), ext and non-string keys are errors.
func msgpackToJSON(data []byte) ([]byte, error) {
	if !JSONCompatible(data) {
		return nil, errNotJSON
	}
	v, err := msgpack.NewDecoder(bytes.NewReader(data)).DecodeInterface()
	if err != nil {
		return nil, fmt.Errorf("frame: msgpack to json: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("frame: msgpack to json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// jsonToMsgpack converts one JSON value to msgpack: integers become
// msgpack ints (shortest form), other numbers float64, strings str, objects
// maps (keys sorted).
func jsonToMsgpack(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("frame: json to msgpack: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errConvTrails
	}
	v, err := fixNumbers(v, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("frame: json to msgpack: %w", err)
	}
	return buf.Bytes(), nil
}

// fixNumbers replaces json.Number values with int64/uint64 when they are
// integers that fit, float64 otherwise.
func fixNumbers(v any, depth int) (any, error) {
	if depth > maxConvDepth {
		return nil, errors.New("frame: json to msgpack: nesting too deep")
	}
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errNumRange
		}
		return f, nil
	case []any:
		for i := range x {
			var err error
			if x[i], err = fixNumbers(x[i], depth+1); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range x {
			e, err := fixNumbers(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = e
		}
	}
	return v, nil
}

// MsgPackCompatible reports whether the JSON value v (already known to be
// well-formed, e.g. Op.Data) converts to msgpack: every number within
// float64 range and nesting <= 256. It does not allocate. The mirror of
// JSONCompatible, for refusing a JSON pub up front.
func MsgPackCompatible(v []byte) bool {
	depth := 0
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == '"':
			e, _ := scanString(v, i)
			if e < 0 {
				return false
			}
			i = e
		case c == '{' || c == '[':
			if depth++; depth > maxConvDepth {
				return false
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '-' || c >= '0' && c <= '9':
			s := i
			for i < len(v) && (v[i] == '-' || v[i] == '+' || v[i] == '.' || v[i] == 'e' || v[i] == 'E' || v[i] >= '0' && v[i] <= '9') {
				i++
			}
			// Only an exponent or a long mantissa can leave float64's range.
			if i-s > 300 || bytes.IndexAny(v[s:i], "eE") >= 0 {
				if _, err := strconv.ParseFloat(string(v[s:i]), 64); err != nil {
					return false
				}
			}
		default:
			i++
		}
	}
	return true
}
