package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/internal/loadgen"
)

// TestMain lets the test binary be the bare server: run re-executes its
// own executable with -bare, which in a test is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(envBare) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestSmoke runs every phase for a few seconds, with a few connections
// and instances: the tool works end to end. It checks no threshold (the
// figures of a run this short, beside other tests, mean nothing), only
// that every request succeeded, the throughput phase's instances were
// finished, and the report has its tables.
func TestSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	var progress bytes.Buffer
	cfg := config{Conns: 4, Rounds: 1, Round: 150 * time.Millisecond, Warmup: 50 * time.Millisecond,
		ThroughputInstances: 10, ReadyPoll: 100 * time.Millisecond,
		Instances: 20, Pollers: 4, Poll: 3 * time.Second, SetupWorkers: 4, Progress: &progress}
	rep, err := run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &progress)
	}
	var out bytes.Buffer
	rep.print(&out)
	t.Logf("report:\n%s", &out)
	if rep.poll.res.Errors != 0 || rep.poll.res.Requests == 0 {
		t.Errorf("polling: %d requests, %d errors (first: %s); want some, and no errors", rep.poll.res.Requests, rep.poll.res.Errors, rep.poll.res.FirstError)
	}
	for ep, sides := range rep.throughput.by {
		for name, m := range sides {
			if m.errors+m.warmupErrors != 0 || m.requests == 0 {
				t.Errorf("%s %s: %d requests, %d errors (first: %s%s); want some, and no errors", ep, name, m.requests, m.errors+m.warmupErrors, m.firstError, m.firstWarmupProblem)
			}
		}
	}
	for _, want := range []string{"| catalog | broker |", "| last_operation | bare |", "| provision | broker |", "| goroutines (idle) |",
		"targets are enforced by `make bench` (full mode) only", "\nResult: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// The bare server repeats the answer of a finished instance.
	if want := `last_operation answers {"state":"succeeded"}`; !strings.Contains(progress.String(), want) {
		t.Errorf("the progress lacks %q:\n%s", want, &progress)
	}
}

// TestReportPass checks which runs pass in each mode: a missed ratio
// target fails the full mode only; a failed request or a polling limit
// fails both.
func TestReportPass(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		enforce bool
		// catalog is the broker's req/s against the bare server's 100.
		catalog float64
		errors  int64
		rssEnd  int64 // against a start of 100
		pass    bool
		// want and notWant are lines or cells of the printed report.
		want, notWant []string
	}{
		{name: "full, targets met", enforce: true, catalog: 95, rssEnd: 100, pass: true,
			want: []string{"| 0.95 | ≥ 0.90 | pass |", "Result: every target met"}, notWant: []string{"enforced by `make bench`"}},
		{name: "full, target missed", enforce: true, catalog: 80, rssEnd: 100, pass: false,
			want: []string{"| 0.80 | ≥ 0.90 | **FAIL** |", "Result: TARGET MISSED"}},
		{name: "short, target missed", catalog: 80, rssEnd: 100, pass: true,
			want: []string{"| 0.80 | ≥ 0.90 | missed (not enforced) |", "targets are enforced by `make bench` (full mode) only",
				"Result: no failure; a ratio target missed, not enforced in short mode"}, notWant: []string{"**FAIL**"}},
		{name: "short, targets met", catalog: 95, rssEnd: 100, pass: true,
			want: []string{"| 0.95 | ≥ 0.90 | pass |", "targets are enforced by `make bench` (full mode) only", "Result: every target met"}},
		{name: "short, a request failed", catalog: 95, errors: 1, rssEnd: 100, pass: false,
			want: []string{"| 0.95 | ≥ 0.90 | **FAIL** |", "Result: FAILED"}},
		{name: "short, a request failed and target missed", catalog: 80, errors: 1, rssEnd: 100, pass: false,
			want: []string{"| 0.80 | ≥ 0.90 | **FAIL** |", "Result: FAILED"}},
		{name: "short, RSS grew", catalog: 95, rssEnd: 200, pass: false,
			want: []string{"| RSS (VmRSS) | 0.0 MiB | 0.0 MiB | +100.0% | ≤ +10% | **FAIL** |", "Result: FAILED"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := &report{
				cfg: config{Conns: 1, Rounds: 1, Round: time.Second, Warmup: time.Second, ThroughputInstances: 1, Instances: 1, Pollers: 1, Enforce: tt.enforce},
				throughput: &throughputResult{
					endpoints: []endpoint{{name: "catalog", target: 0.90}},
					by: map[string]map[string]*measurement{"catalog": {
						"broker": {rps: []float64{tt.catalog}, requests: 10, errors: tt.errors},
						"bare":   {rps: []float64{100}, requests: 10},
					}},
				},
				poll: &pollResult{res: loadgen.Result{Requests: 10, Elapsed: time.Second, Latency: &loadgen.Histogram{}},
					rssStart: 100, rssEnd: tt.rssEnd, heapStart: 100, heapEnd: 100, gorStart: 10, gorEnd: 10},
			}
			if got := rep.pass(); got != tt.pass {
				t.Errorf("pass() = %t, want %t", got, tt.pass)
			}
			var out bytes.Buffer
			rep.print(&out)
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the report lacks %q:\n%s", w, &out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("the report has %q:\n%s", w, &out)
				}
			}
		})
	}
}

// TestModes checks the flags' defaults: the full mode enforces the
// targets, the short mode does not, and both run every phase with the
// same instances.
func TestModes(t *testing.T) {
	t.Parallel()
	full, short := fullConfig(), shortConfig()
	if !full.Enforce || short.Enforce {
		t.Errorf("Enforce: full %t, short %t; want true, false", full.Enforce, short.Enforce)
	}
	if full.ThroughputInstances != short.ThroughputInstances || full.Instances != short.Instances || full.Pollers != short.Pollers {
		t.Errorf("short mode: %d, %d instances and %d pollers; want the full mode's %d, %d and %d",
			short.ThroughputInstances, short.Instances, short.Pollers, full.ThroughputInstances, full.Instances, full.Pollers)
	}
}

func TestProcReaders(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	r, err := rss(os.Getpid())
	if err != nil || r <= 0 {
		t.Errorf("rss = %d, %v; want a positive size", r, err)
	}
	c, err := cpuTime(os.Getpid())
	if err != nil || c < 0 {
		t.Errorf("cpuTime = %v, %v; want a duration", c, err)
	}
}

func TestServingLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ line, want string }{
		{`time=2025-01-01T00:00:00Z level=INFO msg=serving url=http://127.0.0.1:4242 services=4 region=us-east-1`, "http://127.0.0.1:4242"},
		{`time=2025-01-01T00:00:00Z level=INFO msg=serving url=http://127.0.0.1:1`, "http://127.0.0.1:1"},
		{`level=INFO msg="serving soon"`, ""},
	} {
		got := ""
		if m := servingRE.FindStringSubmatch(tt.line); m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("URL of %q = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestFindPlan(t *testing.T) {
	t.Parallel()
	cat := []byte(`{"services":[{"id":"s1","name":"sns","plans":[{"id":"p0","name":"standard"}]},{"id":"s2","name":"sqs","plans":[{"id":"p1","name":"fifo"},{"id":"p2","name":"standard"}]}]}`)
	s, p, err := findPlan(cat, "sqs", "standard")
	if err != nil || s != "s2" || p != "p2" {
		t.Errorf("findPlan = %q, %q, %v; want s2, p2", s, p, err)
	}
	if _, _, err := findPlan(cat, "sqs", "premium"); err == nil {
		t.Error("findPlan found a plan that is not there")
	}
}
