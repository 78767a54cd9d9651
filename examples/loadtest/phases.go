package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/internal/loadgen"
	"github.com/brokerkit/brokerkit/internal/loadgen/probe"
)

// pollLimits are the polling phase's pass criteria. RSS compares the end
// window with the start window (medians of one sample a second; the
// windows are a tenth of the polling time, at least 3s); the live heap is
// the least of the readings after a forced GC over 4s at the start and at
// the end; goroutines are
// counted with no connection open, before the pollers start and after
// they have closed their connections (under load the count swings by up
// to one per request in flight: net/http adds a reader goroutine to each
// connection while its handler runs). They are
// thresholds for a leak, not for noise: 200 pollers make about a million
// requests in 2 minutes on 2 cores, so a leak of one goroutine per 50,000
// requests, or of 16 bytes per request, exceeds them, while the noise
// they must absorb is a GC cycle's swing (the heap grows up to twice the
// live heap between cycles, and RSS follows it loosely), bbolt's file
// pages touched by the Tracker's writes, and the few goroutines that a
// poll round or a request being answered briefly adds.
var pollLimits = struct {
	// RSSGrowth is the largest allowed growth of VmRSS, as a fraction of
	// its start.
	RSSGrowth float64
	// HeapGrowth and HeapSlack bound the live heap (after a forced GC) at
	// the end: start·(1+HeapGrowth) + HeapSlack.
	HeapGrowth float64
	HeapSlack  uint64
	// Goroutines is the largest allowed growth of the idle goroutine
	// count: well below the pollers' 200 connections, so that a goroutine
	// leaked per connection shows too.
	Goroutines int
}{RSSGrowth: 0.10, HeapGrowth: 0.05, HeapSlack: 1 << 20, Goroutines: 20}

// sample is one reading of the broker process.
type sample struct {
	at         time.Duration // since polling started
	rss        int64
	goroutines int
}

// pollResult is the polling phase's measurement.
type pollResult struct {
	instances, pollers int
	res                loadgen.Result
	samples            []sample
	// The start and end windows' medians, and the live heap after a GC at
	// the start and at the end.
	rssStart, rssEnd int64
	gorStart, gorEnd int // idle, before and after
	// gorBusyMin and gorBusyMax are the extremes sampled under load.
	gorBusyMin, gorBusyMax int
	heapStart, heapEnd     uint64
	window, heapWindow     time.Duration
}

func (p *pollResult) rssOK() bool {
	return float64(p.rssEnd) <= float64(p.rssStart)*(1+pollLimits.RSSGrowth)
}

func (p *pollResult) heapOK() bool {
	return float64(p.heapEnd) <= float64(p.heapStart)*(1+pollLimits.HeapGrowth)+float64(pollLimits.HeapSlack)
}

func (p *pollResult) goroutinesOK() bool { return p.gorEnd <= p.gorStart+pollLimits.Goroutines }

func (p *pollResult) pass() bool {
	return p.res.Errors == 0 && p.res.Requests > 0 && p.rssOK() && p.heapOK() && p.goroutinesOK()
}

// pollPhase runs cfg.Pollers pollers of last_operation over insts for a
// warm-up (a tenth of cfg.Poll, at most 10s: every connection open, the
// broker's caches and pools warm) then cfg.Poll, sampling the broker.
func pollPhase(ctx context.Context, cfg config, pf *platform, base string, pid int, socket string, insts []instance) (*pollResult, error) {
	urls := make([]string, len(insts))
	for i, in := range insts {
		urls[i] = pf.lastOperationURL(base, in.id, in.op)
	}
	warmup := min(cfg.Poll/10, 10*time.Second)
	window := max(cfg.Poll/10, 3*time.Second)
	pr := &pollResult{instances: len(insts), pollers: cfg.Pollers, window: window, heapWindow: min(4*time.Second, cfg.Poll/4)}
	read := func(gc bool) (probe.Sample, error) {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return probe.Read(pctx, socket, gc)
	}
	// idle counts the goroutines once the server has seen its connections
	// closed.
	idle := func() (int, error) {
		time.Sleep(2 * time.Second)
		s, err := read(false)
		return s.Goroutines, err
	}
	var err error
	if pr.gorStart, err = idle(); err != nil {
		return nil, err
	}
	client := loadgen.NewClient(cfg.Pollers)

	var (
		wg     sync.WaitGroup
		runErr error
	)
	start := time.Now()
	wg.Go(func() {
		pr.res, runErr = loadgen.Run(ctx, loadgen.Options{
			Client: client, Workers: cfg.Pollers, Warmup: warmup, Duration: cfg.Poll,
			Request: func(int, int64) (*http.Request, error) {
				return pf.request(http.MethodGet, urls[rand.IntN(len(urls))], nil)
			},
		})
	})

	var errs []error
	sleepUntil := func(d time.Duration) {
		select {
		case <-time.After(time.Until(start.Add(d))):
		case <-ctx.Done():
		}
	}
	// liveHeap is the least live heap read after a forced GC every 250ms
	// over heapWindow. One reading is not enough: with 5,000 stacks in
	// progress, a reading taken while a Tracker round holds its decoded
	// DescribeStacks pages is up to 14 MiB (90%) above one taken between
	// rounds (16 to 30 MiB, idle, measured), and rounds come every half
	// poll interval (2.5s). The least reading over a window longer than
	// that is the heap between rounds, which is what a leak raises.
	heapWindow := pr.heapWindow
	liveHeap := func() (uint64, error) {
		var least uint64
		for t0 := time.Now(); ; {
			s, err := read(true)
			if err != nil {
				return 0, err
			}
			if least == 0 || s.HeapAlloc < least {
				least = s.HeapAlloc
			}
			if time.Since(t0) >= heapWindow || ctx.Err() != nil {
				return least, nil
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	sleepUntil(warmup)
	if pr.heapStart, err = liveHeap(); err != nil {
		errs = append(errs, err)
	}
	// One sample a second until the end's heap window (and a little
	// more) before the end, then the live heap at the end, while the
	// pollers still run.
	for at := warmup + heapWindow; at <= warmup+cfg.Poll-heapWindow-500*time.Millisecond && ctx.Err() == nil; at += time.Second {
		sleepUntil(at)
		r, err := rss(pid)
		s, perr := read(false)
		if err != nil || perr != nil {
			errs = append(errs, err, perr)
			break
		}
		pr.samples = append(pr.samples, sample{at: time.Since(start), rss: r, goroutines: s.Goroutines})
	}
	if pr.heapEnd, err = liveHeap(); err != nil {
		errs = append(errs, err)
	}
	wg.Wait()
	if runErr != nil {
		return nil, runErr
	}
	client.CloseIdleConnections()
	if pr.gorEnd, err = idle(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("sampling the broker: %w", err)
		}
	}
	if len(pr.samples) < 2 {
		return nil, fmt.Errorf("only %d samples of the broker: polling too short", len(pr.samples))
	}
	var startRSS, endRSS []int64
	var busy []int
	first, last := pr.samples[0].at, pr.samples[len(pr.samples)-1].at
	for _, s := range pr.samples {
		if s.at <= first+window {
			startRSS = append(startRSS, s.rss)
		}
		if s.at >= last-window {
			endRSS = append(endRSS, s.rss)
		}
		busy = append(busy, s.goroutines)
	}
	pr.rssStart, pr.rssEnd = median(startRSS), median(endRSS)
	pr.gorBusyMin, pr.gorBusyMax = slices.Min(busy), slices.Max(busy)
	return pr, nil
}

func median[T int | int64 | float64](v []T) T {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// side is a server under test.
type side struct {
	name   string
	url    string
	pid    int
	client *http.Client
	// probe is the socket of the probe, or "" (the bare server has none).
	probe string
}

// endpoint is one kind of request of the throughput phase.
type endpoint struct {
	name string
	// target is the lowest broker/bare ratio of medians that passes; 0
	// means none (reported only).
	target float64
	status int
	// request builds a worker's request to base.
	request func(base string) func(worker int, seq int64) (*http.Request, error)
}

// measurement is one side's rounds of one endpoint.
type measurement struct {
	rps     []float64
	latency loadgen.Histogram
	// cpu is the server process's CPU time over the counted windows, for
	// requests requests.
	cpu                time.Duration
	requests, errors   int64
	firstError         string
	warmupErrors       int64
	firstWarmupProblem string
}

func (m *measurement) medianRPS() float64 { return median(m.rps) }

// throughputResult is, per endpoint, each side's measurement.
type throughputResult struct {
	endpoints []endpoint
	by        map[string]map[string]*measurement // endpoint, side
}

func throughputPhase(ctx context.Context, cfg config, pf *platform, sides []*side, insts []instance, progress func(string, ...any)) (*throughputResult, error) {
	endpoints := []endpoint{
		{name: "catalog", target: 0.90, status: http.StatusOK, request: func(base string) func(int, int64) (*http.Request, error) {
			u := base + "/v2/catalog"
			return func(int, int64) (*http.Request, error) { return pf.request(http.MethodGet, u, nil) }
		}},
		{name: "last_operation", target: 0.85, status: http.StatusOK, request: func(base string) func(int, int64) (*http.Request, error) {
			urls := make([]string, len(insts))
			for i, in := range insts {
				urls[i] = pf.lastOperationURL(base, in.id, in.op)
			}
			return func(int, int64) (*http.Request, error) {
				return pf.request(http.MethodGet, urls[rand.IntN(len(urls))], nil)
			}
		}},
		{name: "provision", status: http.StatusAccepted, request: func(base string) func(int, int64) (*http.Request, error) {
			return func(int, int64) (*http.Request, error) {
				return pf.request(http.MethodPut, pf.provisionURL(base, newID()), pf.provisionBody)
			}
		}},
	}
	tr := &throughputResult{endpoints: endpoints, by: map[string]map[string]*measurement{}}
	for _, ep := range endpoints {
		tr.by[ep.name] = map[string]*measurement{}
		for _, s := range sides {
			tr.by[ep.name][s.name] = &measurement{}
		}
		for r := range cfg.Rounds {
			order := slices.Clone(sides)
			if r%2 == 1 {
				slices.Reverse(order) // each side goes first as often as the other
			}
			for _, s := range order {
				m := tr.by[ep.name][s.name]
				profile := ""
				if cfg.ProfileDir != "" && r == 0 && s.probe != "" {
					profile = filepath.Join(cfg.ProfileDir, ep.name+".pprof")
				}
				if err := measureRound(ctx, cfg, s, ep, m, profile); err != nil {
					return nil, err
				}
				progress("%s round %d %s: %.0f req/s", ep.name, r+1, s.name, m.rps[len(m.rps)-1])
			}
		}
	}
	return tr, nil
}

// measureRound runs one round of ep against s: a warm-up run, then the
// counted run, with the server's CPU time read around it, and a CPU
// profile of it written to the file profile if not "".
func measureRound(ctx context.Context, cfg config, s *side, ep endpoint, m *measurement, profile string) error {
	opts := loadgen.Options{Client: s.client, Workers: cfg.Conns, Duration: cfg.Warmup, Status: ep.status, Request: ep.request(s.url)}
	warm, err := loadgen.Run(ctx, opts)
	if err != nil {
		return err
	}
	m.warmupErrors += warm.Errors
	if m.firstWarmupProblem == "" {
		m.firstWarmupProblem = warm.FirstError
	}
	cpu0, err := cpuTime(s.pid)
	if err != nil {
		return err
	}
	opts.Duration = cfg.Round
	var wg sync.WaitGroup
	var perr error
	if profile != "" {
		wg.Go(func() {
			var buf bytes.Buffer
			if perr = probe.Profile(ctx, s.probe, cfg.Round, &buf); perr == nil {
				perr = os.WriteFile(profile, buf.Bytes(), 0o644)
			}
		})
	}
	res, err := loadgen.Run(ctx, opts)
	wg.Wait()
	if err := errors.Join(err, perr); err != nil {
		return err
	}
	cpu1, err := cpuTime(s.pid)
	if err != nil {
		return err
	}
	m.rps = append(m.rps, res.RPS())
	m.latency.Merge(res.Latency)
	m.cpu += cpu1 - cpu0
	m.requests += res.Requests
	m.errors += res.Errors
	if m.firstError == "" {
		m.firstError = res.FirstError
	}
	return nil
}
