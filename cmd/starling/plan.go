package main

import (
	"os"

	"github.com/starling-ws/starling/bench/plan"
)

// planMain is `starling plan`: capacity from the figures bench idle measured.
func planMain(args []string) int { return plan.Main(args, os.Stdout, os.Stderr) }
