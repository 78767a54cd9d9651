package canary

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Report is what [Scan] found in a `go test -json` stream.
type Report struct {
	// Leaks are the output lines holding the secret, each prefixed with
	// its package and test.
	Leaks []string
	// Planted counts, per package, the tests that planted the canary.
	Planted map[string]int
	// Tests counts the tests that ran; Failed those that failed, and
	// FailedNames names them ("package Test").
	Tests, Failed int
	FailedNames   []string
	// Packages are go test's result lines, one per package ("ok  pkg
	// 1.2s", "FAIL pkg 0.3s"), in the order they ended.
	Packages []string
	// Summaries are the output lines that start with "proof: " (the
	// counts the proof suites print), in order.
	Summaries []string
	// FailedOutput holds the last lines of each failed test's output.
	FailedOutput map[string][]string
}

// event is one line of `go test -json`.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// keepLines is how many output lines of a test Scan keeps, to show when
// it fails: the last ones, and the first of its own messages.
const keepLines = 60

// testLine matches a message of the test itself (t.Error, t.Log).
var testLine = regexp.MustCompile(`^\s+\w+_test\.go:\d+: `)

// Scan reads a `go test -json` stream and reports every output line that
// holds the secret, and which packages planted it. Lines that are not
// JSON (build errors) are scanned too.
func Scan(r io.Reader, secret string) (Report, error) {
	rep := Report{Planted: map[string]int{}, FailedOutput: map[string][]string{}}
	recent := map[string][]string{}
	msgs := map[string][]string{} // lines of t.Error/t.Log (file_test.go:N:), which logs can push out of recent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	planted := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if strings.Contains(line, secret) {
				rep.Leaks = append(rep.Leaks, "(not JSON): "+line)
			}
			continue
		}
		if e.Action == "output" && e.Test != "" {
			k := e.Package + " " + e.Test
			lines := append(recent[k], strings.TrimRight(e.Output, "\n"))
			if len(lines) > keepLines {
				lines = lines[len(lines)-keepLines:]
			}
			recent[k] = lines
			if testLine.MatchString(e.Output) && len(msgs[k]) < keepLines {
				msgs[k] = append(msgs[k], strings.TrimRight(e.Output, "\n"))
			}
		}
		if e.Action == "output" && strings.HasPrefix(e.Output, "proof: ") {
			rep.Summaries = append(rep.Summaries, strings.TrimRight(e.Output, "\n"))
		}
		if e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
			word := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "?   "}[e.Action]
			rep.Packages = append(rep.Packages, fmt.Sprintf("%s %s %.3fs", word, e.Package, e.Elapsed))
		}
		switch {
		case e.Action == "output" && strings.Contains(e.Output, secret):
			rep.Leaks = append(rep.Leaks, fmt.Sprintf("%s %s: %s", e.Package, e.Test, strings.TrimSpace(e.Output)))
		case e.Action == "output" && e.Test != "" && strings.Contains(e.Output, PlantedMarker):
			if k := e.Package + " " + e.Test; !planted[k] {
				planted[k] = true
				rep.Planted[e.Package]++
			}
		case e.Action == "pass" && e.Test != "":
			rep.Tests++
		case e.Action == "fail" && e.Test != "":
			rep.Tests++
			rep.Failed++
			rep.FailedNames = append(rep.FailedNames, e.Package+" "+e.Test)
			k := e.Package + " " + e.Test
			rep.FailedOutput[k] = append(append(msgs[k], "    … the test's last output lines:"), recent[k]...)
		}
	}
	return rep, sc.Err()
}

// Summary prints the planted counts, one package a line.
func (r Report) Summary() string {
	pkgs := make([]string, 0, len(r.Planted))
	for p := range r.Planted {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var b strings.Builder
	fmt.Fprintf(&b, "%d tests ran, %d failed; the canary was planted by:\n", r.Tests, r.Failed)
	for _, p := range pkgs {
		fmt.Fprintf(&b, "  %-60s %d tests\n", p, r.Planted[p])
	}
	return b.String()
}
