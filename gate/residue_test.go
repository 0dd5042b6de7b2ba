package gate

import (
	"fmt"
	"net/netip"
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
// are stored the way sessions store them (a pointer each). The figure
// reported is heap bytes per connection beyond that pointer, after GC: the
// grant with its user id, and any permission set of its own, nothing
// transient.
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
		limit  float64 // bytes per connection beyond the session's pointer (the grant's size class + 2 B of noise)
	}{
		{"same user, same ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": "u", "ch": shared}
		}, 26}, // the grant and its user id in one 24-byte object (see Grant); the id is not shared
		{"own user id, same ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": fmt.Sprintf("user-%07d", i), "ch": shared}
		}, 34}, // 32 B: a 12-byte id
		{"own user id, own ch", func(i int) jwt.MapClaims {
			return jwt.MapClaims{"sub": fmt.Sprintf("user-%07d", i), "ch": map[string]any{
				"sub": []string{fmt.Sprintf("user.%07d.*", i), "lobby"}, "pub": []string{fmt.Sprintf("user.%07d.out", i)}}}
		}, 308}, // + the set of its own
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sessions := make([]*Grant, n)
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
			t.Logf("%s: %.1f B heap per connection beyond a %d-byte pointer (N=%d, %d interned sets)",
				tc.name, per, unsafe.Sizeof(sessions[0]), n, v.Perms().Len())
			if per > tc.limit {
				t.Errorf("%.1f B per connection beyond the session's pointer, limit %.0f", per, tc.limit)
			}
			runtime.KeepAlive(sessions)
		})
	}
}

// TestPerIPResidue measures what the per-address table (-max-conns-per-ip)
// keeps per client address with open connections: its map entry and the
// shared slot, heap after GC, for N distinct IPv4 addresses (the figure
// moves with the map's fill between its doublings, so at three sizes).
// starling plan uses it (plan.PerIPBytes) when -per-ip is on.
func TestPerIPResidue(t *testing.T) {
	if testing.Short() {
		t.Skip("acquires ~90k addresses")
	}
	for _, n := range []int{4096, 19000, 65536} {
		p, _ := NewPerIP(100, 64)
		slots := make([]*IPSlot, n)
		before := heapInUse()
		for i := range slots {
			slots[i], _ = p.Acquire(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		}
		after := heapInUse()
		per := (float64(after) - float64(before)) / float64(n)
		t.Logf("N=%d addresses: %.1f B heap per client address (map entry and slot; sessions hold a pointer each)", n, per)
		if per > 128 {
			t.Errorf("N=%d: %.1f B per address, limit 128", n, per)
		}
		runtime.KeepAlive(slots)
		for _, s := range slots {
			p.Release(s)
		}
	}
}
