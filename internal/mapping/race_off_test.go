//go:build !race

package mapping

// raceEnabled is true when the race detector slows everything down, so timing tests skip.
const raceEnabled = false
