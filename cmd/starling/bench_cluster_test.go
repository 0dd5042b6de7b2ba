//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/starling-ws/starling/bench"
)

// TestBenchClusterSmall runs `starling bench cluster` end to end at a small
// scale: real `serve -nats` processes (this test binary playing starling)
// on an embedded NATS server, real worker processes. Every subscriber gets
// every publish, and the drained process's subscribers move to the other
// one and resume with nothing lost or duplicated.
func TestBenchClusterSmall(t *testing.T) {
	t.Setenv(mainEnv, "1")
	o, err := bench.ParseBenchArgs("cluster", []string{"-procs", "2", "-n", "600", "-publishes", "12", "-pub-rate", "6",
		"-rate", "3000", "-timeout", "90s", "--", "-drain-timeout", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Stderr = io.Discard
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := bench.RunCluster(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	t.Logf("\n%s", b.String())
	f := r.Figures
	for k, want := range map[string]float64{
		"connections": 600, "steady_lost": 0, "steady_duplicated": 0, "steady_deliveries": 7200,
		"drain_lost": 0, "drain_duplicated": 0, "drain_moved": 300, "drain_recovered": 300, "drain_not_recovered": 0,
	} {
		if f[k] != want {
			t.Errorf("%s = %v, want %v", k, f[k], want)
		}
	}
}
