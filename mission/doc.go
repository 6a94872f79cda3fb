// Package mission is palantir's domain: the mission types and their stages,
// the heroes, the states a mission moves through, failure and retry policy,
// and scoring.
//
// It knows nothing about brokers, SQL or the command line (a test enforces
// this with `go list -deps`), so the same mission code runs unchanged on
// every backend and with every store.
//
// # Determinism
//
// A mission's Order carries a seed. The stage durations (with their ±20%
// jitter) and whether an attempt is ambushed, and at which stage, are derived
// from that seed and the attempt number only, so a run launched with
// `--seed` replays exactly, whichever worker executes it and however many
// times it is delivered.
package mission
