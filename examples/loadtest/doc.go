// Command loadtest measures the example broker (examples/awsbroker) under
// load on loopback, against a bare net/http server that writes the same
// bytes, and checks that it holds memory and goroutines flat while
// pollers hammer last_operation. `make bench` runs it; BENCHMARKS.md holds
// a full run's figures and what they mean.
//
//	go run ./examples/loadtest          # full: 3 rounds of 10s per side, 2 minutes of polling; targets enforced
//	go run ./examples/loadtest -short   # 3s rounds and 20s of polling, targets reported only (CI)
//
// It builds the broker with a go build -overlay that adds one file (a
// call of internal/loadgen/probe.StartFromEnv), so that the goroutine count
// and the live heap can be read over a private Unix socket; the program
// itself exposes nothing new. Each phase runs its own broker, as a child
// process with a fresh data directory, against an in-process fake
// CloudFormation of its own (provisioner/provisionertest) and a stub STS
// answering the broker's GetCallerIdentity at start.
//
// The phases:
//
//  1. Throughput. A broker started with -poll-interval 1s gets
//     -throughput-instances provisions (PUT with accepts_incomplete=true,
//     each answered 202) whose stacks complete at once, and the tool waits
//     until last_operation of every one answers succeeded: the broker's
//     Tracker then has nothing in progress, and does no background work
//     that the bare server does not do. Then, for catalog, last_operation
//     (of those instances: "succeeded") and provision (a new instance ID
//     per request, whose stack completes at once too), -rounds rounds of
//     -round per side, the broker and the bare server alternating (which
//     goes first alternates too), each with -conns keep-alive connections.
//     The bare server is a second process of this program (-bare)
//     answering the same paths with the status, headers and body the
//     broker gave, captured first. The table reports the median requests
//     per second over the rounds, p50 and p99 over all rounds' requests,
//     the server process's CPU per request, and the ratio of the medians.
//  2. Sustained polling. A second broker, with the default poll interval,
//     gets -instances provisions whose stacks stay CREATE_IN_PROGRESS for
//     a day, so that its Tracker polls all of them for the whole phase,
//     as it would with that many operations in flight. Then -pollers
//     workers, each on its own keep-alive connection, GET last_operation
//     of those instances for -poll; the broker's RSS (/proc/PID/status)
//     and goroutines (the probe) are sampled every second, and its live
//     heap after forced GCs at the start and the end (the least reading
//     over 4s: a Tracker round in flight holds its decoded pages). The start and end
//     windows are compared with thresholds (see [pollLimits]).
//
// The exit status is 0 if the run passes, 1 if a request failed, a
// polling limit was exceeded or (in the full mode only) a ratio target
// was missed, and 2 if the test could not run. The short mode reports
// the ratio targets without enforcing them: rounds of 3s on a shared CI
// machine are too noisy for a threshold of 10%.
package main
