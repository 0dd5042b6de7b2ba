package main

import (
	"os"
	"testing"
)

// mainEnv makes the test binary play the starling binary: a test that
// spawns `starling serve` or bench workers (which re-execute
// os.Executable) sets it, and its children run main with their arguments.
const mainEnv = "STARLING_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
