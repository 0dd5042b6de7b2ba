package main

import (
	"os"

	"github.com/starling-ws/starling/bench"
)

// planMain is `starling plan`: capacity from the figures bench idle measured.
func planMain(args []string) int { return bench.PlanMain(args, os.Stdout, os.Stderr) }
