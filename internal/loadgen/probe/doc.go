// Package probe lets a load test read a process's goroutine count and
// heap statistics without the program exposing them: a build of the
// program for the test adds, with go build -overlay, one file calling
// [StartFromEnv] from an init function, and the test reads the figures
// with [Read] over a Unix socket that only the test knows. A normal build
// of the program contains none of it.
//
// # Usage
//
// The file added by the overlay (examples/loadtest writes it):
//
//	package main
//
//	import "github.com/brokerkit/brokerkit/internal/loadgen/probe"
//
//	func init() { probe.StartFromEnv() }
//
// The test starts the program with BROKERKIT_PROBE_SOCKET set to a path in
// a private directory, then:
//
//	s, err := probe.Read(ctx, socketPath, true) // after a GC: the live heap
//
// # Concurrency
//
// The probe serves each request on its own goroutine; Read may be called
// concurrently. The probe's listener adds one goroutine to the count, and
// the request being answered one more, both constant.
package probe
