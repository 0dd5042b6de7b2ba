package gate

import (
	"runtime"
	"strings"
	"testing"
)

// TestGrantSizes: a grant and its user id take one allocation of the size
// class the Grant doc promises, and User reads the id back (under -race,
// checkptr also checks that User stays inside the allocation).
func TestGrantSizes(t *testing.T) {
	for _, c := range []struct{ n, bytes int }{
		{0, 16}, {1, 24}, {8, 24}, {9, 32}, {16, 32}, {17, 48}, {32, 48}, {33, 64}, {48, 64},
		{49, 24 + 64}, {MaxUser, 24 + MaxUser},
	} {
		user := strings.Repeat("u", c.n)
		if c.n > 0 {
			user = user[:c.n-1] + "z" // the last byte is read too
		}
		const count = 1000
		keep := make([]*Grant, count)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range keep {
			keep[i] = newGrant(Nothing, user, 1)
		}
		runtime.ReadMemStats(&after)
		// Within 2 bytes: the runtime may allocate a little of its own meanwhile.
		if got := int((after.TotalAlloc - before.TotalAlloc) / count); (got < c.bytes || got > c.bytes+2) && !raceEnabled {
			t.Errorf("user id of %d bytes: the grant takes %d bytes, want %d", c.n, got, c.bytes)
		}
		if got := keep[count-1].User(); got != user {
			t.Errorf("user id of %d bytes: User() = %q", c.n, got)
		}
	}
	if g := OpenGrant(); g.User() != "" || !g.CanSub([]byte("x")) || g.Exp() != 0 {
		t.Errorf("open grant: %q %v %d", g.User(), g.CanSub([]byte("x")), g.Exp())
	}
}
