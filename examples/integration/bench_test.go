package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

const (
	benchServiceID = "bench-svc-queue"
	benchPlanID    = "bench-plan-standard"
	benchPrefix    = "bench"
	benchService   = "queue"
	benchTemplate  = `{"Resources":{"Queue":{"Type":"AWS::SQS::Queue"}}}`
	// benchWorkers is how many provision requests are served at once, as
	// a broker serves a platform's concurrent PUTs.
	benchWorkers = 64
	// Stacks finish benchMinDelay to benchMinDelay+benchSpread after
	// their CreateStack, uniformly.
	benchMinDelay = time.Second
	benchSpread   = 4 * time.Second
)

// BenchmarkInFlight10k starts 10,000 provisions through the Tracker's Go
// API against the scripted fake CloudFormation (real clock, stacks
// finishing 1–5s after creation, DescribeStacks pages of 100 as in AWS),
// with cloudformation.Stacks batching status reads (BatchMin default) and
// a Tracker polling at 500ms backing off to 2s, and runs the Tracker
// until all are terminal. Setup (server, client, Tracker) is not timed.
// It reports:
//
//   - cfn-calls/op: CloudFormation calls (the fake's CallsTotal) per
//     completed operation; the target is at most 2.
//   - heap-bytes/inflight-op: the peak HeapInuse while operations are in
//     flight (sampled after a runtime.GC once every provision has been
//     answered, then every second), minus HeapInuse before, per
//     operation. The store keeps a finished operation's record, as it
//     must, so the peak comes late in the run and is what an instance
//     costs, in flight or not. The process holds the fake too:
//     fake-heap-bytes/op is what is left with the Tracker, its store and
//     client released after the run (the fake's stacks and their
//     events), so the broker's own share is roughly the difference.
//   - visible-delay-mean-ms, visible-delay-p99-ms (and -max-ms): for each
//     operation, its record's Operation.FinishedAt minus the time its
//     stack finished (the stack's creation time plus its scripted delay):
//     how long last_operation still answers "in progress" for a finished
//     stack.
//
// Run it with
//
//	go test ./examples/integration/ -run '^$' -bench InFlight -benchtime 1x -benchmem
func BenchmarkInFlight10k(b *testing.B) { benchInFlight(b, 10_000) }

// BenchmarkInFlight1k is BenchmarkInFlight10k with 1,000 operations, for
// quick runs.
func BenchmarkInFlight1k(b *testing.B) { benchInFlight(b, 1_000) }

// benchResult is what one run of n operations measured.
type benchResult struct {
	calls    int64
	byAction map[string]int64
	// startTime is how long the provision requests took; heapStarted and
	// inFlightStarted are HeapInuse (minus before) and the operations the
	// Tracker had scheduled when they were all answered.
	startTime       time.Duration
	heapStarted     int64
	inFlightStarted int
	heapPeak        int64 // the largest HeapInuse sampled in flight, minus before
	fakeHeap        int64 // HeapInuse with only the fake left, minus before
	// finished holds each operation's FinishedAt, by instance index;
	// delays the visible delays computed from it.
	finished []time.Time
	delays   []time.Duration
}

func benchInFlight(b *testing.B, n int) {
	if testing.Short() {
		b.Skip("the in-flight benchmarks start thousands of stacks; skipped with -short")
	}
	var runs []benchResult
	for range b.N {
		runs = append(runs, benchOnce(b, n))
	}
	var calls, heap, fake int64
	var delays []time.Duration
	for _, r := range runs {
		calls += r.calls
		heap = max(heap, r.heapPeak)
		fake = max(fake, r.fakeHeap)
		delays = append(delays, r.delays...)
		b.Logf("%d operations: %d CloudFormation calls %v; provisions answered in %v, then heap +%d MB with %d operations scheduled; peak heap +%d MB; the fake alone +%d MB",
			n, r.calls, r.byAction, r.startTime.Round(time.Millisecond), r.heapStarted>>20, r.inFlightStarted, r.heapPeak>>20, r.fakeHeap>>20)
	}
	slices.Sort(delays)
	var sum time.Duration
	for _, d := range delays {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	ops := float64(n * len(runs))
	b.ReportMetric(float64(calls)/ops, "cfn-calls/op")
	b.ReportMetric(float64(heap)/float64(n), "heap-bytes/inflight-op")
	b.ReportMetric(float64(fake)/float64(n), "fake-heap-bytes/op")
	if len(delays) > 0 {
		b.ReportMetric(ms(sum)/float64(len(delays)), "visible-delay-mean-ms")
		b.ReportMetric(ms(delays[(len(delays)*99-1)/100]), "visible-delay-p99-ms")
		b.ReportMetric(ms(delays[len(delays)-1]), "visible-delay-max-ms")
	}
}

// benchOnce sets up a fake, measures one run of n provisions, and then
// what the fake alone holds.
func benchOnce(b *testing.B, n int) benchResult {
	b.StopTimer()
	var mu sync.Mutex
	delays := make(map[string]time.Duration, n) // stack name → scripted delay
	r := rand.New(rand.NewPCG(uint64(n), 2010_05_15))
	f := provisionertest.New(provisionertest.Options{
		PageSize: 100,
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action != "CreateStack" {
				return provisionertest.Script{}
			}
			mu.Lock()
			defer mu.Unlock()
			d := benchMinDelay + time.Duration(r.Int64N(int64(benchSpread)))
			delays[op.StackName] = d
			return provisionertest.Script{Delay: d, Outputs: map[string]string{"QueueURL": "https://sqs.example/" + op.StackName}}
		},
	})
	srv := httptest.NewServer(f)
	defer srv.Close()

	before := benchHeap()
	res := benchDrive(b, n, f, srv.URL, before)

	// With the Tracker, its store and client gone, what remains is the
	// fake's.
	res.fakeHeap = int64(benchHeap()) - int64(before)
	created := map[string]time.Time{}
	for _, s := range f.Stacks() {
		created[s.Name] = s.Created
	}
	mu.Lock()
	defer mu.Unlock()
	if len(created) != n || len(delays) != n {
		b.Fatalf("%d stacks, %d scripted; want %d", len(created), len(delays), n)
	}
	res.delays = make([]time.Duration, n)
	for i, recorded := range res.finished {
		name := cloudformation.StackName(benchPrefix, benchService, benchInstanceID(i))
		v := recorded.Sub(created[name].Add(delays[name]))
		if v < -time.Millisecond {
			b.Errorf("%s: recorded as finished %v before its stack finished", name, -v)
		}
		res.delays[i] = v
	}
	return res
}

func benchInstanceID(i int) string { return fmt.Sprintf("bench-%05d", i) }

// benchHeap returns HeapInuse after a garbage collection.
func benchHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// benchDrive times n provisions through a Tracker until all are terminal
// and returns the run's figures but the visible delays, which benchOnce
// computes from res.finished.
func benchDrive(b *testing.B, n int, f *provisionertest.CloudFormation, url string, before uint64) benchResult {
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: benchServiceID, Name: benchService, Description: "A queue.",
		Plans: []catalog.Plan{{ID: benchPlanID, Name: "standard", Description: "A standard queue."}},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	cfg := f.Config(url)
	// Keep a connection per worker: the SDK's default of 10 idle
	// connections per host would make the workers open and close
	// thousands of loopback connections, which measures the kernel.
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = benchWorkers
	})
	// No rate limiter: the benchmark counts calls; a real account's limit
	// would only stretch the run.
	stacks, err := cloudformation.New(cloudformation.Options{
		Client:      cloudformation.NewClient(cfg, nil),
		Catalog:     idx,
		Templates:   cloudformation.StaticTemplates{benchPlanID: {Body: benchTemplate}},
		StackPrefix: benchPrefix,
		BrokerID:    "bench-broker",
	})
	if err != nil {
		b.Fatal(err)
	}
	mem := store.NewMemory()
	tr, err := provisioner.New(provisioner.Options{
		Store:           mem,
		Provisioner:     stacks,
		Catalog:         idx,
		PollInterval:    500 * time.Millisecond,
		MaxPollInterval: 2 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runDone := make(chan error, 1)

	b.StartTimer()
	t0 := time.Now()
	go func() { runDone <- tr.Run(ctx) }()
	var next atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				res, err := tr.Provision(ctx, provisioner.ProvisionRequest{InstanceID: benchInstanceID(i),
					ServiceID: benchServiceID, PlanID: benchPlanID, OrganizationGUID: "org", SpaceGUID: "space"})
				if err != nil || res.Outcome != provisioner.Started {
					if failures.Add(1) == 1 {
						b.Errorf("provision %d: %+v, %v", i, res, err)
					}
				}
			}
		})
	}
	wg.Wait()
	res := benchResult{startTime: time.Since(t0), heapStarted: int64(benchHeap()) - int64(before), inFlightStarted: tr.InFlight()}
	res.heapPeak = res.heapStarted

	// Wait for every operation to end, sampling the heap every second.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastSample := time.Now()
	for {
		if tr.InFlight() == 0 {
			left, err := mem.InFlight(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(left) == 0 {
				break
			}
		}
		if time.Since(lastSample) >= time.Second {
			res.heapPeak = max(res.heapPeak, int64(benchHeap())-int64(before))
			lastSample = time.Now()
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d operations still in progress: %v", tr.InFlight(), ctx.Err())
		case <-tick.C:
		}
	}
	b.StopTimer()
	cancel()
	if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
		b.Errorf("Run: %v", err)
	}

	res.calls, res.byAction = f.CallsTotal(), f.Calls()
	res.finished = make([]time.Time, n)
	bg := context.Background()
	for i := range n {
		rec, err := mem.Get(bg, benchInstanceID(i))
		if err != nil {
			b.Fatal(err)
		}
		if op := rec.Operation; op.State != provisioner.Succeeded {
			b.Fatalf("%s: %s %s (%s)", rec.InstanceID, op.State, op.Status, op.Description)
		}
		res.finished[i] = rec.Operation.FinishedAt
	}
	return res
}
