//go:build race

package server

// raceEnabled: the race detector drops sync.Pool items at random, so code
// that allocates only when a pool is empty allocates in race builds.
const raceEnabled = true
