// Package proof holds the process-level proofs of the example broker
// (issue #8): it builds examples/awsbroker once per test process and runs
// it as a user would, against moto and the scripted fake CloudFormation
// of provisioner/provisionertest, under crashes (SIGKILL at random
// moments, then a restart on the same files), AWS faults (throttling,
// 5xx, lost answers, slow stacks, rollbacks, the endpoint going away),
// malformed requests and attacks (TLS, slow clients, authentication,
// parameter injection, secrets at rest and in logs).
//
// The package has no API: its tests are the product. They run under
// `make proof` (BROKERKIT_PROOF=1, short durations, a few minutes with
// -race) and in the canary run (`make canary`); `go test ./...` skips
// them. BROKERKIT_PROOF_LONG=1 (or -long) runs the full numbers:
// 100 provisions and 100 binds, several kills, the CloudFormation
// endpoint away for 30 seconds. Every suite ends by printing its counts
// to stdout ("proof: ..."), which `make proof` shows.
package proof
