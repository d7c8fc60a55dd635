//go:build race

package e2e

// raceEnabled builds the sonogate binary with the race detector when the
// tests themselves run with -race, so that the end-to-end runs also catch
// data races in the gateway.
const raceEnabled = true
