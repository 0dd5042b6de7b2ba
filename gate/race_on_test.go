//go:build race

package gate

// raceEnabled: the race detector drops sync.Pool items at random and its
// builds account allocations differently, so allocation counts and sizes
// are asserted only without it.
const raceEnabled = true
