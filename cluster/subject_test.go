package cluster

import (
	"bytes"
	"strings"
	"testing"

	"github.com/starling-ws/starling/frame"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, ch := range []string{"a", "room.1", "...", "user:42/inbox=x-y@z_", strings.Repeat(".", 128), strings.Repeat("Z", 128)} {
		tok := appendToken(nil, []byte(ch))
		if len(tok) != len(ch) || bytes.IndexByte(tok, '.') >= 0 {
			t.Fatalf("%q -> token %q: want the same length and no '.'", ch, tok)
		}
		back, ok := appendChannel(nil, string(tok))
		if !ok || string(back) != ch {
			t.Fatalf("%q -> %q -> %q %v", ch, tok, back, ok)
		}
	}
	for _, tok := range []string{"", "a.b", "a b", "*", ">", "a?", strings.Repeat("a", 129)} {
		if ch, ok := appendChannel(nil, tok); ok {
			t.Fatalf("token %q accepted as channel %q", tok, ch)
		}
	}
}

func TestConfigNames(t *testing.T) {
	for _, p := range []string{"starling", "a.b", "x_y-z.1"} {
		if !validPrefix(p) {
			t.Fatalf("prefix %q refused", p)
		}
	}
	for _, p := range []string{"", ".a", "a.", "a..b", "a.*", "a.>", "a b", strings.Repeat("a", 65)} {
		if validPrefix(p) {
			t.Fatalf("prefix %q accepted", p)
		}
	}
	for _, s := range []string{"", "A.B", "A B", "A/B", "A*"} {
		if validStreamName(s) {
			t.Fatalf("stream %q accepted", s)
		}
	}
	bad := []Config{{}, {URL: "x", Prefix: "a..b"}, {URL: "x", Stream: "a.b"}, {URL: "x", Replicas: 7},
		{URL: "x", HistorySize: -1}, {URL: "x", HistoryMemory: 10}, {URL: "x", Storage: 9}}
	for _, c := range bad {
		if err := c.validate(); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}

// FuzzToken: every valid channel name maps to one token without '.' and
// back; no other token decodes to a valid name.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"a", "room.1", "x~y", "a.b.c", "..", "user:1@x/y=z-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if frame.ValidChannel([]byte(s)) {
			tok := appendToken(nil, []byte(s))
			if bytes.IndexByte(tok, '.') >= 0 || len(tok) != len(s) {
				t.Fatalf("%q -> %q", s, tok)
			}
			back, ok := appendChannel(nil, string(tok))
			if !ok || string(back) != s {
				t.Fatalf("%q -> %q -> %q", s, tok, back)
			}
		}
		if ch, ok := appendChannel(nil, s); ok {
			if !frame.ValidChannel(ch) || string(appendToken(nil, ch)) != s {
				t.Fatalf("token %q -> %q does not map back", s, ch)
			}
		}
	})
}
