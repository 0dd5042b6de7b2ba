package shard

import (
	"maps"
	"testing"
)

// Channels lists names with subscriber counts, filtered by prefix and cut
// at limit, and forgets a channel once its last subscriber left.
func TestChannelsList(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2})
	a, b := add(h, nullConn(), 0), add(h, nullConn(), 0)
	subT(t, h, a, "room.1", 0)
	subT(t, h, b, "room.1", 1)
	subT(t, h, a, "room.2", 0)
	subT(t, h, b, "lobby", 0)
	h.Flush()
	list := func(prefix string, limit int) map[string]int {
		t.Helper()
		m := map[string]int{}
		for _, c := range h.Channels(nil, []byte(prefix), limit) {
			if _, dup := m[c.Name]; dup {
				t.Fatalf("%q listed twice", c.Name)
			}
			m[c.Name] = c.Subs
		}
		return m
	}
	if got, want := list("", 0), map[string]int{"room.1": 2, "room.2": 1, "lobby": 1}; !maps.Equal(got, want) {
		t.Fatalf("all: %v, want %v", got, want)
	}
	if got, want := list("room.", 0), map[string]int{"room.1": 2, "room.2": 1}; !maps.Equal(got, want) {
		t.Fatalf("room.: %v, want %v", got, want)
	}
	if got := list("", 2); len(got) != 2 {
		t.Fatalf("limit 2: %v", got)
	}
	if got := list("nothing", 0); len(got) != 0 {
		t.Fatalf("unmatched prefix: %v", got)
	}
	h.Unsubscribe(b, []byte("lobby"), nil)
	h.Flush()
	if got, want := list("", 0), map[string]int{"room.1": 2, "room.2": 1}; !maps.Equal(got, want) {
		t.Fatalf("after the last unsub of lobby: %v, want %v", got, want)
	}
}
