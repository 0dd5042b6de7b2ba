// Command starling is the one binary: `starling serve` runs the WebSocket
// server, `starling bench` measures one, `starling plan` turns the
// measurements into a capacity plan.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: starling <command> [flags]

commands:
  serve   run the WebSocket pub/sub server   (starling serve -h)
  bench   measure a server                   (starling bench -h)
  plan    capacity plan from bench figures   (starling plan -h)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		os.Exit(serveMain(args))
	case "bench":
		os.Exit(benchMain(args))
	case "plan":
		os.Exit(planMain(args))
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		fmt.Fprintf(os.Stderr, "starling: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
