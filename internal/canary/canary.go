// Package canary plants one known secret in the tests of every package and
// finds it where it must never appear: log lines, test output, error
// strings that reach either, panics.
//
// Tests use [Secret] (or [Plant], which also counts the planting) as the
// value of secret parameters, stack outputs and credentials, and give the
// code under test [Logger](t) instead of a discarding logger. Normally
// Logger discards and nothing else changes. `make canary` runs every
// package's tests with BROKERKIT_CANARY=1 and `go test -json`: Logger then
// writes every record, at debug level, into the test's output, and
// [Scan] fails if the secret appears anywhere in the output of any test,
// or if fewer packages than expected planted it.
package canary

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// Secret is the canary: a value no code path may print.
const Secret = "CANARY-7c41e9b2-never-print-me"

// Env turns the canary run on.
const Env = "BROKERKIT_CANARY"

// PlantedMarker is the line Plant writes in a canary run.
const PlantedMarker = "canary: planted"

// On reports whether this is a canary run.
func On() bool { return os.Getenv(Env) == "1" }

// Plant returns Secret and, in a canary run, notes in t's output that the
// test planted it, so that the run can tell a package whose tests carry
// the canary from one whose tests never did.
func Plant(t testing.TB) string {
	t.Helper()
	if On() {
		t.Log(PlantedMarker)
	}
	return Secret
}

// Writer returns t's output in a canary run, else io.Discard: for a test
// that logs into a buffer of its own, to tee its log there too.
func Writer(t testing.TB) io.Writer {
	if !On() {
		return io.Discard
	}
	return t.Output()
}

// Logger returns the logger to give code under test: in a canary run it
// writes every record (debug level and up) as JSON into t's output, where
// the run looks for the canary; otherwise it discards.
func Logger(t testing.TB) *slog.Logger {
	if !On() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
