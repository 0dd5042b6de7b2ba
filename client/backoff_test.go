package client_test

import (
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/starling-ws/starling/client"
)

// TestBackoffCeilings: 0.5 s doubling to the 20 s cap, and every draw in
// [0, ceiling] using the whole range.
func TestBackoffCeilings(t *testing.T) {
	b := client.Backoff{}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second}
	for n, w := range want {
		if got := b.Ceiling(n); got != w {
			t.Fatalf("Ceiling(%d) = %v, want %v", n, got, w)
		}
	}
	if got := b.Ceiling(1000); got != 20*time.Second {
		t.Fatalf("Ceiling(1000) = %v (overflow?)", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 10 {
		ceil := b.Ceiling(n)
		lo, hi := ceil, time.Duration(0)
		for range 1000 {
			d := b.Delay(n, r)
			if d < 0 || d > ceil {
				t.Fatalf("Delay(%d) = %v outside [0, %v]", n, d, ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > ceil/50 || hi < ceil-ceil/50 {
			t.Fatalf("attempt %d: 1000 draws span [%v, %v] of [0, %v]: not full jitter", n, lo, hi, ceil)
		}
	}
}

// TestReconnectJitterSpread drives a real client through 1,000 failed
// reconnects (the server's port refuses) on a manual clock with a seeded
// source: each wait is within its attempt's bounds, the waits are uniform
// over [0, ceiling] (Kolmogorov-Smirnov), and no two consecutive reconnects
// fall within 1 ms of each other in more than a few cases.
func TestReconnectJitterSpread(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections to it are refused from now on
	clk := newFakeClock()
	c := connect(t, "ws://"+addr+"/ws", client.Options{Clock: clk, Rand: rand.New(rand.NewPCG(7, 11))})
	const n = 1000
	b := client.DefaultBackoff
	var at time.Duration // simulated time of the reconnect being timed
	var times []time.Duration
	var frac []float64
	for k := range n {
		var d time.Duration
		select {
		case d = <-clk.armed:
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d: the client armed no backoff timer", k)
		}
		ceil := b.Ceiling(k)
		if d < 0 || d > ceil {
			t.Fatalf("wait before reconnect %d = %v, outside [0, %v]", k+1, d, ceil)
		}
		frac = append(frac, float64(d)/float64(ceil))
		at += d
		times = append(times, at)
		clk.Advance(d)
	}
	c.Close()
	close1ms := 0
	for i := 1; i < len(times); i++ {
		if times[i]-times[i-1] < time.Millisecond {
			close1ms++
		}
	}
	slices.Sort(frac)
	ks := 0.0
	for i, f := range frac {
		ks = math.Max(ks, math.Max(f-float64(i)/n, float64(i+1)/n-f))
	}
	t.Logf("%d reconnects over %v simulated; consecutive pairs within 1 ms: %d; KS distance from uniform: %.4f",
		n, at.Round(time.Second), close1ms, ks)
	// Expected pairs within 1 ms: about sum(1ms/ceiling) = 0.05.
	if close1ms > 3 {
		t.Fatalf("%d consecutive reconnects within 1 ms of each other", close1ms)
	}
	// 1.95/sqrt(n) is the 0.1%% critical value.
	if ks > 1.95/math.Sqrt(n) {
		t.Fatalf("waits are not uniform over [0, ceiling]: KS distance %.4f", ks)
	}
}

// TestHerdSpread: 1,000 clients that lost the same server in the same
// instant, each with its default (crypto-seeded) source: their first
// reconnects are all different and no 10 ms window takes more than a
// small multiple of its share.
func TestHerdSpread(t *testing.T) {
	const n = 1000
	b := client.DefaultBackoff
	var ds []time.Duration
	for range n {
		ds = append(ds, b.Delay(0, client.NewRand()))
	}
	slices.Sort(ds)
	within1ms, peak := 0, 0
	for i := range ds {
		if i > 0 && ds[i]-ds[i-1] < time.Millisecond {
			within1ms++
		}
		j := i
		for j < n && ds[j]-ds[i] < 10*time.Millisecond {
			j++
		}
		peak = max(peak, j-i)
	}
	distinct := len(slices.Compact(slices.Clone(ds)))
	// Uniform over 500 ms: 20 per 10 ms window on average; 1 - e^-2 of the
	// neighbours fall within 1 ms of each other (the window is 0.5 ms per client).
	t.Logf("first reconnects of %d clients in [%v, %v]: %d distinct, busiest 10 ms window %d (mean 20), neighbours within 1 ms %d",
		n, ds[0].Round(time.Microsecond), ds[n-1].Round(time.Millisecond), distinct, peak, within1ms)
	if distinct != n {
		t.Fatalf("%d of %d clients drew the same delay: the sources are not independent", n-distinct, n)
	}
	if peak > 60 {
		t.Fatalf("%d of %d reconnects in one 10 ms window", peak, n)
	}
}
