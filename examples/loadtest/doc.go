// Command loadtest measures the example broker (examples/awsbroker) under
// load on loopback, against a bare net/http server that writes the same
// bytes, and checks that it holds memory and goroutines flat while
// pollers hammer last_operation. `make bench` runs it; BENCHMARKS.md holds
// a full run's figures and what they mean.
//
//	go run ./examples/loadtest          # full: 3 rounds of 10s per side, 2 minutes of polling
//	go run ./examples/loadtest -short   # the same with 3s rounds and 20s of polling (CI)
//
// It builds the broker with a go build -overlay that adds one file (a
// call of internal/loadgen/probe.StartFromEnv), so that the goroutine count
// and the live heap can be read over a private Unix socket; the program
// itself exposes nothing new. The broker runs as a child process with a
// fresh data directory, against an in-process fake CloudFormation
// (provisioner/provisionertest, whose stacks stay CREATE_IN_PROGRESS for a
// day, so every instance stays tracked and polled by the broker) and a
// stub STS answering the broker's GetCallerIdentity at start.
//
// The phases:
//
//  1. Setup: -instances provisions through the API (PUT with
//     accepts_incomplete=true, each answered 202).
//  2. Polling: -pollers workers, each on its own keep-alive connection,
//     GET last_operation of those instances for -poll; the broker's RSS
//     (/proc/PID/status) and goroutines (the probe) are sampled every
//     second, and its live heap after a forced GC at the start and the
//     end. The start and end windows are compared with thresholds (see
//     [pollLimits]).
//  3. Throughput: for catalog, last_operation and provision (a new
//     instance ID per request), -rounds rounds of -round per side, the
//     broker and the bare server alternating (which goes first alternates
//     too), each with -conns keep-alive connections. The bare server is a
//     second process of this program (-bare) answering the same paths
//     with the status, headers and body the broker gave, captured first.
//     The table reports the median requests per second over the rounds,
//     p50 and p99 over all rounds' requests, the server process's CPU per
//     request, and the ratio of the medians.
//
// The exit status is 0 if every target is met and no request failed, 1 if
// a target is missed or a request failed, and 2 if the test could not run.
package main
