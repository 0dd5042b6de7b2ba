//go:build race

package frame

// raceEnabled: the race detector drops sync.Pool items at random, so code
// that allocates only when a pool is empty allocates in race builds.
const raceEnabled = true
