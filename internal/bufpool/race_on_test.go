//go:build race

package bufpool

// raceEnabled: the race detector drops sync.Pool items at random, so a Get
// after a Put may allocate in race builds.
const raceEnabled = true
