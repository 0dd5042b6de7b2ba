package gate

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle also frees what the first one's cleanups released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestGrantResidue measures what a verified token keeps resident per
// connection, by the real path (Verify), for N connections whose grants
// are stored the way sessions will store them (a Grant field each). The
// figure reported is heap bytes per connection beyond the Grant field
// itself (unsafe.Sizeof(Grant{})), after GC, so it counts the interned
// user ids and permission sets and nothing transient.
func TestGrantResidue(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~20k grants")
	}
	const n = 19000
	k := keys(t)
	clk := &clock{t0}
	v := newVerifier(t, TokenConfig{Secret: k.secret, Now: clk.now})
	shared := map[string]any{"sub": []string{"room.*", "lobby"}, "pub": []string{"room.*"}}
	cases := []struct {
		name   string
		claims func(i int) jwt.MapClaims
		limit  float64 // bytes per connection beyond the Grant field
	}{
		{"same user, same ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": "u", "ch": shared}
		}, 24}, // the user id is copied per grant (see Grant), not shared
		{"own user id, same ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": fmt.Sprintf("user-%07d", i), "ch": shared}
		}, 24},
		{"own user id, own ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": fmt.Sprintf("user-%07d", i), "ch": map[string]any{
				"sub": []string{fmt.Sprintf("user.%07d.*", i), "lobby"}, "pub": []string{fmt.Sprintf("user.%07d.out", i)}}}
		}, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sessions := make([]Grant, n)
			before := heapInUse()
			for i := range sessions {
				g, err := v.Verify(sign(t, jwt.SigningMethodHS256, k.secret, claimsAt(t0, tc.claims(i))))
				if err != nil {
					t.Fatal(err)
				}
				sessions[i] = g
			}
			after := heapInUse()
			per := (float64(after) - float64(before)) / n
			t.Logf("%s: Grant field %d B + %.1f B heap per connection (N=%d, %d interned sets)",
				tc.name, unsafe.Sizeof(Grant{}), per, n, v.Perms().Len())
			if per > tc.limit {
				t.Errorf("%.1f B per connection beyond the Grant field, limit %.0f", per, tc.limit)
			}
			runtime.KeepAlive(sessions)
		})
	}
}
