package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// NewClient returns a client for Run that keeps up to conns connections
// per host open between requests (MaxIdleConnsPerHost and
// MaxConnsPerHost are conns), without proxies, compression or HTTP/2, so
// that each worker of a Run with Workers ≤ conns keeps one keep-alive
// connection to itself.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
		// Redirects would be followed silently and counted as the
		// request's answer; a load test wants to see them as errors.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Options configure one [Run].
type Options struct {
	// Client sends the requests; NewClient(Workers) keeps one connection
	// per worker. Required.
	Client *http.Client
	// Workers is the number of requests in flight at any time (default 1).
	Workers int
	// Warmup is a time during which requests are sent but not counted,
	// so that connections are open and caches warm when counting starts.
	Warmup time.Duration
	// Duration is how long requests are counted after Warmup. Required.
	Duration time.Duration
	// Request returns a new request for worker's seq-th request (both
	// from 0). It is called concurrently by the workers. An error ends
	// the Run.
	Request func(worker int, seq int64) (*http.Request, error)
	// Status is the expected status; any other is an error (default 200).
	Status int
	// Timeout bounds one request (default 30s); a request that times out
	// is an error.
	Timeout time.Duration
}

// Result is what a [Run] measured, over the requests that completed
// within its counted window.
type Result struct {
	// Requests is the number of requests completed in the window, errors
	// included.
	Requests int64
	// Errors is the number of those that failed or had another status.
	Errors int64
	// FirstError describes the first error, or is "".
	FirstError string
	// Elapsed is the length of the counted window.
	Elapsed time.Duration
	// Latency holds the latency of every successful request counted.
	Latency *Histogram
}

// RPS returns the successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Run sends requests from Options.Workers workers, each sending its next
// request as soon as it has read the previous answer's body, for
// Options.Warmup plus Options.Duration, and returns what it measured in
// the counted window. It returns an error only if the options are invalid,
// Request fails or ctx ends; failed requests are counted in the Result.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Client == nil || opts.Request == nil || opts.Duration <= 0 {
		return Result{}, errors.New("loadgen: Options.Client, Options.Request and a positive Options.Duration are required")
	}
	workers := max(opts.Workers, 1)
	status := opts.Status
	if status == 0 {
		status = http.StatusOK
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}

	start := time.Now()
	from, until := start.Add(opts.Warmup), start.Add(opts.Warmup+opts.Duration)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type tally struct {
		hist       Histogram
		reqs, errs int64
		firstErr   string
		err        error
	}
	tallies := make([]tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			t := &tallies[w]
			for seq := int64(0); ctx.Err() == nil; seq++ {
				req, err := opts.Request(w, seq)
				if err != nil {
					t.err = err
					cancel()
					return
				}
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				rctx, rcancel := context.WithTimeout(ctx, timeout)
				problem := do(opts.Client, req.WithContext(rctx), status)
				rcancel()
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					continue // warming up, or past the window
				}
				if ctx.Err() != nil {
					return
				}
				t.reqs++
				if problem != "" {
					t.errs++
					if t.firstErr == "" {
						t.firstErr = problem
					}
					continue
				}
				t.hist.Record(t1.Sub(t0))
			}
		})
	}
	wg.Wait()

	res := Result{Elapsed: opts.Duration, Latency: &Histogram{}}
	for i := range tallies {
		t := &tallies[i]
		if t.err != nil {
			return Result{}, fmt.Errorf("loadgen: worker %d: %w", i, t.err)
		}
		res.Requests += t.reqs
		res.Errors += t.errs
		if res.FirstError == "" {
			res.FirstError = t.firstErr
		}
		res.Latency.Merge(&t.hist)
	}
	if err := ctx.Err(); err != nil && time.Now().Before(until) {
		return res, err
	}
	return res, nil
}

// do sends req and reads the whole answer, so the connection can be
// reused. It returns "" for an answer with the wanted status, or a
// description of what went wrong.
func do(c *http.Client, req *http.Request, want int) string {
	resp, err := c.Do(req)
	if err != nil {
		return err.Error()
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Sprintf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	case resp.StatusCode != want:
		return fmt.Sprintf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return ""
}
