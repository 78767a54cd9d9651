package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// report is what a run measured.
type report struct {
	cfg config
	// setup is the time the polling phase's provisions took.
	setup time.Duration
	// thrSetup is the time the throughput phase's provisions took, and
	// thrReady the time from their end until every one answered
	// succeeded.
	thrSetup, thrReady time.Duration
	poll               *pollResult
	throughput         *throughputResult
}

// ratio returns the broker's median requests per second over the bare
// server's for an endpoint.
func (r *report) ratio(ep string) float64 {
	b, bare := r.throughput.by[ep]["broker"].medianRPS(), r.throughput.by[ep]["bare"].medianRPS()
	if bare == 0 {
		return 0
	}
	return b / bare
}

// failed reports whether a request failed, a side made no request, or
// the polling phase exceeded a limit: a failure in either mode.
func (r *report) failed() bool {
	if !r.poll.pass() {
		return true
	}
	for _, ep := range r.throughput.endpoints {
		for _, m := range r.throughput.by[ep.name] {
			if m.errors > 0 || m.warmupErrors > 0 || m.requests == 0 {
				return true
			}
		}
	}
	return false
}

// missed reports whether a ratio target was missed.
func (r *report) missed() bool {
	for _, ep := range r.throughput.endpoints {
		if ep.target > 0 && r.ratio(ep.name) < ep.target {
			return true
		}
	}
	return false
}

// pass reports whether the run passes: nothing failed and, if the
// targets are enforced (the full mode), every ratio target is met.
func (r *report) pass() bool { return !r.failed() && (!r.cfg.Enforce || !r.missed()) }

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// print writes the report as Markdown tables.
func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\n## Throughput: %d keep-alive connections per side, %d rounds of %v per side (after %v of warm-up each), broker and bare alternating\n\n",
		c.Conns, c.Rounds, c.Round, c.Warmup)
	fmt.Fprintf(w, "The broker's %d instances are finished (provisioned in %v, all answering succeeded %v later): its Tracker has nothing in progress. "+
		"Provision's new stacks finish at once too.\n\n", c.ThroughputInstances, r.thrSetup.Round(time.Millisecond), r.thrReady.Round(time.Millisecond))
	fmt.Fprintln(w, "| endpoint | side | req/s (median) | req/s per round | p50 | p99 | server CPU/req | errors | ratio | target | result |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
	for _, ep := range r.throughput.endpoints {
		for _, name := range []string{"broker", "bare"} {
			m := r.throughput.by[ep.name][name]
			rounds := make([]string, len(m.rps))
			for i, v := range m.rps {
				rounds[i] = fmt.Sprintf("%.0f", v)
			}
			cpu := "-"
			if ok := m.requests - m.errors; ok > 0 {
				cpu = fmt.Sprintf("%.0fµs", float64(m.cpu)/float64(time.Microsecond)/float64(ok))
			}
			ratio, target, result := "", "", ""
			if name == "broker" {
				ratio = fmt.Sprintf("%.2f", r.ratio(ep.name))
				okErrors := true
				for _, mm := range r.throughput.by[ep.name] {
					okErrors = okErrors && mm.errors == 0 && mm.warmupErrors == 0
				}
				switch met := r.ratio(ep.name) >= ep.target; {
				case ep.target > 0 && okErrors && !met && !c.Enforce:
					target = fmt.Sprintf("≥ %.2f", ep.target)
					result = "missed (not enforced)"
				case ep.target > 0:
					target = fmt.Sprintf("≥ %.2f", ep.target)
					result = verdict(okErrors && met)
				default:
					target = "none"
					result = verdict(okErrors)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %d | %s | %s | %s |\n", ep.name, name, m.medianRPS(), strings.Join(rounds, " "),
				ms(m.latency.Quantile(0.5)), ms(m.latency.Quantile(0.99)), cpu, m.errors+m.warmupErrors, ratio, target, result)
		}
	}
	if !c.Enforce {
		fmt.Fprintln(w, "\ntargets are enforced by `make bench` (full mode) only")
	}
	for _, ep := range r.throughput.endpoints {
		for _, name := range []string{"broker", "bare"} {
			m := r.throughput.by[ep.name][name]
			if p := m.firstError + m.firstWarmupProblem; p != "" {
				fmt.Fprintf(w, "\n%s %s: first error: %s\n", ep.name, name, p)
			}
		}
	}

	p := r.poll
	fmt.Fprintf(w, "\n## Sustained polling: a second broker, %d instances in progress (provisioned in %v), %d pollers for %v\n\n",
		p.instances, r.setup.Round(time.Millisecond), p.pollers, c.Poll)
	fmt.Fprintf(w, "last_operation: %.0f req/s, p50 %s, p99 %s, %d requests, %d errors — %s\n\n",
		p.res.RPS(), ms(p.res.Latency.Quantile(0.5)), ms(p.res.Latency.Quantile(0.99)), p.res.Requests, p.res.Errors, verdict(p.res.Errors == 0 && p.res.Requests > 0))
	fmt.Fprintf(w, "The broker process at the start and the end: RSS as the medians of one sample a second over the first and the last %v, "+
		"the live heap as the least of readings after a forced GC every 250ms over %v (a Tracker round in flight holds up to 14 MiB more), "+
		"goroutines with no connection open before and after (under load: %d to %d):\n\n", p.window, p.heapWindow, p.gorBusyMin, p.gorBusyMax)
	fmt.Fprintln(w, "| measure | start | end | growth | limit | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	fmt.Fprintf(w, "| RSS (VmRSS) | %s | %s | %+.1f%% | ≤ +%.0f%% | %s |\n", mib(p.rssStart), mib(p.rssEnd),
		100*(float64(p.rssEnd)/float64(p.rssStart)-1), 100*pollLimits.RSSGrowth, verdict(p.rssOK()))
	fmt.Fprintf(w, "| live heap | %s | %s | %+.1f%% | ≤ +%.0f%% + %s | %s |\n", mib(int64(p.heapStart)), mib(int64(p.heapEnd)),
		100*(float64(p.heapEnd)/float64(p.heapStart)-1), 100*pollLimits.HeapGrowth, mib(int64(pollLimits.HeapSlack)), verdict(p.heapOK()))
	fmt.Fprintf(w, "| goroutines (idle) | %d | %d | %+d | ≤ +%d | %s |\n", p.gorStart, p.gorEnd, p.gorEnd-p.gorStart, pollLimits.Goroutines, verdict(p.goroutinesOK()))
	var result string
	switch {
	case r.failed():
		result = "FAILED (see **FAIL** above)"
	case r.missed() && c.Enforce:
		result = "TARGET MISSED (see **FAIL** above)"
	case r.missed():
		result = "no failure; a ratio target missed, not enforced in short mode"
	default:
		result = "every target met"
	}
	fmt.Fprintf(w, "\nResult: %s\n", result)
}
