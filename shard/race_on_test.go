//go:build race

package shard

// raceEnabled: the million-entry measurements take minutes under the race
// detector and measure nothing about races (one goroutine builds, the
// workers only serve); .ci/run runs them without -race.
const raceEnabled = true
