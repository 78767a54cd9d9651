// Package loadgen is a closed-loop HTTP load generator for the
// repository's load benchmarks (examples/loadtest): a fixed number of
// workers, each on its own keep-alive connection, send requests back to
// back for a fixed duration and record every latency in a [Histogram].
//
// # Usage
//
//	client := loadgen.NewClient(64) // 64 keep-alive connections
//	res, err := loadgen.Run(ctx, loadgen.Options{
//		Client:   client,
//		Workers:  64,
//		Warmup:   time.Second,
//		Duration: 10 * time.Second,
//		Status:   http.StatusOK,
//		Request: func(worker int, seq int64) (*http.Request, error) {
//			return http.NewRequest(http.MethodGet, url+"/v2/catalog", nil)
//		},
//	})
//	fmt.Println(res.RPS(), res.Latency.Quantile(0.99), res.Errors)
//
// Every answer with another status than Options.Status, and every
// transport error, counts as an error; a run with errors is not a valid
// measurement, and callers should say so rather than report its rate.
//
// # What it does not do
//
// It is closed-loop: a slow server slows the generator down, so latency
// under a fixed offered rate (open loop, coordinated omission) is not
// measured. It runs in the caller's process and competes with it, and with
// the server on a shared machine, for CPU.
//
// # Concurrency
//
// Run may be called from several goroutines, each with its own Options. A
// Histogram is not safe for concurrent use: Run gives each worker its
// own and merges them.
package loadgen
