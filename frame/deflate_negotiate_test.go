package frame

import (
	"regexp"
	"strings"
	"testing"
)

const (
	resp   = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	resp15 = resp + "; server_max_window_bits=15"
)

func negotiate(headers ...string) string {
	var offers [][]byte
	for _, h := range headers {
		offers = append(offers, []byte(h))
	}
	r, ok := NegotiateDeflate(offers)
	if ok != (r != nil) {
		panic("ok disagrees with the response")
	}
	if !ok {
		return "-"
	}
	return string(r)
}

func TestNegotiateDeflate(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers []string
		want    string
	}{
		{"browser", []string{"permessage-deflate; client_max_window_bits"}, resp},
		{"bare", []string{"permessage-deflate"}, resp},
		{"gorilla", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, resp},
		{"client bits value", []string{"permessage-deflate; client_max_window_bits=10"}, resp},
		{"client bits 8", []string{"permessage-deflate; client_max_window_bits=8"}, resp},
		{"client bits quoted", []string{`permessage-deflate; client_max_window_bits="12"`}, resp},
		{"client bits quoted pair", []string{`permessage-deflate; client_max_window_bits="1\2"`}, resp},
		{"server bits 15", []string{"permessage-deflate; server_max_window_bits=15"}, resp15},
		{"server bits 15 quoted", []string{`permessage-deflate;server_max_window_bits="15"`}, resp15},
		{"whitespace", []string{"  permessage-deflate \t;\tclient_max_window_bits = 9 , "}, resp},
		{"empty elements", []string{", ,permessage-deflate,,"}, resp},
		{"other extension first", []string{"x-webkit-deflate-frame, permessage-deflate"}, resp},
		{"other extension with params", []string{`foo; a="b,c;d"; e, permessage-deflate`}, resp},

		// Declined offers, then the next one.
		{"server bits 10 declined", []string{"permessage-deflate; server_max_window_bits=10"}, "-"},
		{"server bits 8 declined", []string{"permessage-deflate; server_max_window_bits=8"}, "-"},
		{"fallback after server bits", []string{"permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits"}, resp},
		{"fallback to 15", []string{"permessage-deflate; server_max_window_bits=9, permessage-deflate; server_max_window_bits=15"}, resp15},
		{"first acceptable wins", []string{"permessage-deflate; server_max_window_bits=15, permessage-deflate"}, resp15},
		{"second header", []string{"permessage-deflate; bogus", "permessage-deflate"}, resp},
		{"malformed header skipped whole", []string{"permessage-deflate, permessage-deflate; =", "permessage-deflate; server_max_window_bits=15"}, resp15},

		// Refused.
		{"none", nil, "-"},
		{"empty", []string{""}, "-"},
		{"other only", []string{"x-webkit-deflate-frame"}, "-"},
		{"unknown param", []string{"permessage-deflate; foo"}, "-"},
		{"unknown param with value", []string{"permessage-deflate; foo=1"}, "-"},
		{"case differs", []string{"Permessage-Deflate"}, "-"},
		{"duplicate no-context", []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, "-"},
		{"duplicate client bits", []string{"permessage-deflate; client_max_window_bits; client_max_window_bits"}, "-"},
		{"duplicate client bits values", []string{"permessage-deflate; client_max_window_bits=10; client_max_window_bits=11"}, "-"},
		{"duplicate server bits", []string{"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15"}, "-"},
		{"no-context with value", []string{"permessage-deflate; server_no_context_takeover=1"}, "-"},
		{"server bits without value", []string{"permessage-deflate; server_max_window_bits"}, "-"},
		{"client bits 7", []string{"permessage-deflate; client_max_window_bits=7"}, "-"},
		{"client bits 16", []string{"permessage-deflate; client_max_window_bits=16"}, "-"},
		{"client bits leading zero", []string{"permessage-deflate; client_max_window_bits=09"}, "-"},
		{"client bits empty quoted", []string{`permessage-deflate; client_max_window_bits=""`}, "-"},
		{"client bits long quoted", []string{`permessage-deflate; client_max_window_bits="100"`}, "-"},
		{"server bits 150", []string{"permessage-deflate; server_max_window_bits=150"}, "-"},
		{"server bits sign", []string{"permessage-deflate; server_max_window_bits=+15"}, "-"},
		{"dangling equals", []string{"permessage-deflate; client_max_window_bits="}, "-"},
		{"two tokens", []string{"foo permessage-deflate"}, "-"},
		{"dangling semicolon", []string{"permessage-deflate;"}, "-"},
		{"unterminated quote", []string{`permessage-deflate; client_max_window_bits="10`}, "-"},
		{"bad after good", []string{"permessage-deflate, @"}, "-"},
		{"control byte", []string{"permessage-deflate\x00"}, "-"},
	} {
		if got := negotiate(c.headers...); got != c.want {
			t.Errorf("%s: %q -> %q, want %q", c.name, c.headers, got, c.want)
		}
	}
}

func TestNegotiateDeflateZeroAllocs(t *testing.T) {
	offers := [][]byte{
		[]byte("x-webkit-deflate-frame"),
		[]byte(`permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits="15"`),
	}
	zeroAllocs(t, "NegotiateDeflate", "the response is prebuilt", func() {
		if _, ok := NegotiateDeflate(offers); !ok {
			t.Fatal("not accepted")
		}
	})
}

// oracleNegotiate is an independent reading of the same rules for the
// fuzzer, built on regular expressions over ASCII input.
var (
	reList  = regexp.MustCompile(`^[ \t]*(?:` + reElem + `)?[ \t]*(?:,[ \t]*(?:` + reElem + `)?[ \t]*)*$`)
	reElem  = reToken + `(?:[ \t]*;[ \t]*` + reParam + `)*`
	reParam = reToken + `(?:[ \t]*=[ \t]*(?:` + reToken + `|` + reQuote + `))?`
	reToken = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
	reQuote = `"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"`
	reItem  = regexp.MustCompile(`(` + reToken + `)|(` + reQuote + `)|([,;=])`)
	rePair  = regexp.MustCompile(`\\(.)`)
	reBits  = regexp.MustCompile(`^(?:[89]|1[0-5])$`)
)

func oracleNegotiate(v string) (string, bool) {
	if !reList.MatchString(v) {
		return "", false
	}
	// Walk items: tokens, quoted strings, separators.
	type param struct {
		key, val string
		hasVal   bool
	}
	var elems [][]any // name then params
	var cur []any
	expectVal := false
	for _, m := range reItem.FindAllStringSubmatch(v, -1) {
		switch {
		case m[3] == ",":
			if cur != nil {
				elems = append(elems, cur)
			}
			cur = nil
		case m[3] == ";":
		case m[3] == "=":
			expectVal = true
		default:
			s := m[1]
			if m[2] != "" {
				s = rePair.ReplaceAllString(m[2][1:len(m[2])-1], "$1")
			}
			switch {
			case cur == nil:
				cur = []any{s}
			case expectVal:
				p := cur[len(cur)-1].(param)
				p.val, p.hasVal = s, true
				cur[len(cur)-1] = p
				expectVal = false
			default:
				cur = append(cur, param{key: s})
			}
		}
	}
	if cur != nil {
		elems = append(elems, cur)
	}
next:
	for _, e := range elems {
		if e[0] != "permessage-deflate" {
			continue
		}
		seen := map[string]bool{}
		server := ""
		for _, x := range e[1:] {
			p := x.(param)
			if seen[p.key] {
				continue next
			}
			seen[p.key] = true
			switch p.key {
			case "server_no_context_takeover", "client_no_context_takeover":
				if p.hasVal {
					continue next
				}
			case "client_max_window_bits":
				if p.hasVal && !reBits.MatchString(p.val) {
					continue next
				}
			case "server_max_window_bits":
				if !p.hasVal || p.val != "15" {
					continue next
				}
				server = p.val
			default:
				continue next
			}
		}
		if server != "" {
			return resp15, true
		}
		return resp, true
	}
	return "", false
}

func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=\"15\"",
		"x; a=\"b\\\"c\", permessage-deflate; client_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; client_max_window_bits=; x",
		", ,permessage-deflate ;client_max_window_bits = 9",
	} {
		f.Add([]byte(s), []byte("permessage-deflate"))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		got, ok := NegotiateDeflate([][]byte{a, b})
		if ok && string(got) != resp && string(got) != resp15 {
			t.Fatalf("response %q", got)
		}
		// Differential check on ASCII input: the first header value that
		// offers something decides.
		ascii := func(v []byte) bool {
			for _, c := range v {
				if c >= 0x80 {
					return false
				}
			}
			return true
		}
		if !ascii(a) || !ascii(b) {
			return
		}
		want, wok := oracleNegotiate(string(a))
		if !wok {
			want, wok = oracleNegotiate(string(b))
		}
		if ok != wok || string(got) != want {
			t.Fatalf("%q %q: got %q %v, oracle %q %v", a, b, got, ok, want, wok)
		}
		// A header value is read whole: appending a valid element never
		// changes a verdict already reached on a complete list.
		if r, ok := NegotiateDeflate([][]byte{a}); ok {
			if r2, ok2 := NegotiateDeflate([][]byte{[]byte(strings.TrimRight(string(a), " \t") + ", permessage-deflate")}); !ok2 || string(r2) != string(r) {
				t.Fatalf("%q: appending an element changed %q to %q", a, r, r2)
			}
		}
	})
}
