//go:build linux

package main

import (
	"os"

	"github.com/starling-ws/starling/bench"
)

// benchMain is `starling bench SCENARIO ...` (and the hidden worker roles it
// re-executes itself as).
func benchMain(args []string) int { return bench.Main(args, os.Stdout, os.Stderr) }
