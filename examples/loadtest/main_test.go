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

// TestSmoke runs every phase for about a second, with a few connections
// and instances: the tool works end to end. It checks no threshold (the
// figures of a run this short, beside other tests, mean nothing), only
// that every request succeeded and the report has its tables.
func TestSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	var progress bytes.Buffer
	cfg := config{Conns: 4, Rounds: 1, Round: 150 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Instances: 20, Pollers: 4, Poll: 2 * time.Second, SetupWorkers: 4, Progress: &progress}
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
	for _, want := range []string{"| catalog | broker |", "| last_operation | bare |", "| provision | broker |", "| goroutines (idle) |", "\nResult: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
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
