//go:build race

package fsm

// raceDetector is set when the tests run with the race detector, which
// makes the snapshot oracles' tests about ten times slower: they then take
// fewer random stores and mutations (see scaled; a run without it takes
// them all).
const raceDetector = true
