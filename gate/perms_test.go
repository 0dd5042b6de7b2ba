package gate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustPerms(t testing.TB, tab *PermTable, sub, pub []string) *Perms {
	t.Helper()
	p, err := tab.Make(sub, pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPermsMatch(t *testing.T) {
	tab := NewPermTable()
	p := mustPerms(t, tab, []string{"room.*", "lobby", "user.42", "a*"}, []string{"room.a"})
	for ch, want := range map[string]bool{
		"room.":     true, // '*' matches zero or more bytes
		"room.x":    true,
		"room.x.y":  true,
		"room":      false,
		"lobby":     true,
		"lobby.x":   false,
		"lobb":      false,
		"user.42":   true,
		"user.420":  false,
		"a":         true,
		"abc":       true,
		"b":         false,
		"":          false,
		"zzz":       false,
		"room.\xff": true, // CanSub does not validate names; frame does
	} {
		if got := p.CanSub([]byte(ch)); got != want {
			t.Errorf("CanSub(%q) = %v, want %v", ch, got, want)
		}
	}
	if !p.CanPub([]byte("room.a")) || p.CanPub([]byte("room.b")) {
		t.Error("CanPub")
	}
	var nilPerms *Perms
	if nilPerms.CanSub([]byte("x")) || Nothing.CanSub([]byte("x")) || !Everything.CanPub([]byte("x")) {
		t.Error("nil/Nothing/Everything")
	}
}

func TestPermsCanonical(t *testing.T) {
	tab := NewPermTable()
	for _, tc := range []struct {
		sub, pub []string
		want     string
	}{
		{nil, nil, "|"},
		{[]string{"b", "a", "b"}, nil, "a,b|"},
		{[]string{"room.x", "room.*", "room.a.*", "r*", "zz"}, []string{"*", "x"}, "zz,r*|*"},
		{[]string{"ab*", "a*", "abc"}, []string{"abc*", "abd*"}, "a*|abc*,abd*"},
	} {
		if got := mustPerms(t, tab, tc.sub, tc.pub).String(); got != tc.want {
			t.Errorf("%v|%v: %q, want %q", tc.sub, tc.pub, got, tc.want)
		}
	}
	for _, bad := range [][]string{{""}, {"*a"}, {"a**"}, {"a b"}, {"**"}, {strings.Repeat("a", 129)}} {
		if _, err := tab.Make(bad, nil); err == nil || !strings.Contains(err.Error(), "ch.sub") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// naiveAllows is the specification: a linear scan of the raw patterns.
func naiveAllows(pats []string, ch string) bool {
	for _, p := range pats {
		if p == "*" || p == ch || strings.HasSuffix(p, "*") && strings.HasPrefix(ch, p[:len(p)-1]) {
			return true
		}
	}
	return false
}

// TestPermsAgainstNaive compares the structure with the linear scan on
// random pattern sets of every size (both exact-set representations) over
// a small alphabet, where prefixes nest and collide often.
func TestPermsAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 1+r.IntN(5))
		for i := range b {
			b[i] = "ab."[r.IntN(3)]
		}
		return string(b)
	}
	tab := NewPermTable()
	for round := range 400 {
		n := r.IntN(3 * exactMapMin)
		pats := make([]string, n)
		for i := range pats {
			pats[i] = word()
			if r.IntN(3) == 0 {
				pats[i] = pats[i][:r.IntN(len(pats[i]))] + "*"
				if pats[i] == "*" && r.IntN(4) != 0 {
					pats[i] = "a*"
				}
			}
		}
		p := mustPerms(t, tab, pats, nil)
		for range 200 {
			ch := word()
			if got, want := p.CanSub([]byte(ch)), naiveAllows(pats, ch); got != want {
				t.Fatalf("round %d: patterns %q (canonical %q): CanSub(%q) = %v, want %v", round, pats, p, ch, got, want)
			}
		}
	}
}

// bigPerms is a set of n exact names and n prefixes.
func bigPerms(t testing.TB, n int) (*Perms, [][]byte) {
	var pats []string
	var probes [][]byte
	for i := range n {
		pats = append(pats, fmt.Sprintf("room.%d", i), fmt.Sprintf("team.%d.*", i))
		probes = append(probes, fmt.Appendf(nil, "room.%d", i), fmt.Appendf(nil, "team.%d.chat", i), fmt.Appendf(nil, "nope.%d", i))
	}
	return mustPerms(t, NewPermTable(), pats, pats), probes
}

func TestPermsZeroAlloc(t *testing.T) {
	for _, n := range []int{4, 500} { // slice and map exact sets
		p, probes := bigPerms(t, n)
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			ch := probes[i%len(probes)]
			i++
			_ = p.CanSub(ch)
			_ = p.CanPub(ch)
		})
		if allocs != 0 {
			t.Errorf("n=%d: %v allocs per CanSub+CanPub", n, allocs)
		}
	}
}

// waitFor polls cond with a deadline, forcing GC cycles (cleanups run
// after the collector finds an object unreachable).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// TestPermTableEvicts: a set nobody holds leaves the table; a held one
// stays and keeps being shared.
func TestPermTableEvicts(t *testing.T) {
	tab := NewPermTable()
	held := mustPerms(t, tab, []string{"kept"}, nil)
	for i := range 1000 {
		mustPerms(t, tab, []string{fmt.Sprintf("c%d", i)}, nil)
	}
	if tab.Len() < 2 {
		t.Fatalf("len %d", tab.Len())
	}
	waitFor(t, "dropped sets to be evicted", func() bool { return tab.Len() == 1 })
	if again := mustPerms(t, tab, []string{"kept"}, nil); again != held {
		t.Fatal("a held set was not shared after eviction of others")
	}
	runtime.KeepAlive(held)
}
