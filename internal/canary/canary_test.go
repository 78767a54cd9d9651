package canary_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/internal/canary"
)

func TestScan(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"run","Package":"p/a","Test":"TestA"}`,
		`{"Action":"output","Package":"p/a","Test":"TestA","Output":"    a_test.go:9: canary: planted\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestA","Output":"{\"level\":\"INFO\",\"msg\":\"created\",\"password\":\"` + canary.Secret + `\"}\n"}`,
		`{"Action":"pass","Package":"p/a","Test":"TestA"}`,
		`{"Action":"output","Package":"p/b","Test":"TestB","Output":"    b_test.go:3: canary: planted\n"}`,
		`{"Action":"output","Package":"p/b","Test":"TestB","Output":"    b_test.go:4: canary: planted\n"}`,
		`{"Action":"output","Package":"p/b","Test":"TestB","Output":"panic: bad value ` + canary.Secret + `\n"}`,
		`{"Action":"fail","Package":"p/b","Test":"TestB"}`,
		`{"Action":"output","Package":"p/c","Test":"TestC","Output":"nothing here\n"}`,
		`{"Action":"pass","Package":"p/c","Test":"TestC"}`,
		`{"Action":"output","Package":"p/c","Test":"TestC","Output":"proof: TestC: 5 kills\n"}`,
		`{"Action":"pass","Package":"p/c","Elapsed":1.5}`,
		`# p/d: build failed near ` + canary.Secret,
	}, "\n")
	rep, err := canary.Scan(strings.NewReader(stream), canary.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Leaks) != 3 {
		t.Errorf("leaks %q, want the log line, the panic and the non-JSON line", rep.Leaks)
	}
	if rep.Planted["p/a"] != 1 || rep.Planted["p/b"] != 1 || rep.Planted["p/c"] != 0 {
		t.Errorf("planted %v, want one test each in p/a and p/b", rep.Planted)
	}
	if len(rep.Packages) != 1 || rep.Packages[0] != "ok   p/c 1.500s" {
		t.Errorf("package lines %q", rep.Packages)
	}
	if len(rep.Summaries) != 1 || rep.Summaries[0] != "proof: TestC: 5 kills" {
		t.Errorf("summaries %q", rep.Summaries)
	}
	if out := rep.FailedOutput["p/b TestB"]; len(out) != 6 || !strings.Contains(out[0], "b_test.go:3:") || !strings.HasPrefix(out[5], "panic:") {
		t.Errorf("failed output %q, want TestB's two messages, then its three last lines", out)
	}
	if rep.Tests != 3 || rep.Failed != 1 || len(rep.FailedNames) != 1 || rep.FailedNames[0] != "p/b TestB" {
		t.Errorf("tests %d failed %d, want 3 and 1", rep.Tests, rep.Failed)
	}
}

func TestLogger(t *testing.T) {
	if canary.On() {
		t.Skip("a canary run: this test would print the canary on purpose")
	}
	canary.Logger(t).Info("discarded", "v", canary.Secret)
	t.Setenv(canary.Env, "1")
	if got := canary.Plant(t); got != canary.Secret {
		t.Errorf("Plant = %q", got)
	}
}

// mustPlant are the packages whose tests must carry the canary: every
// package that handles parameters, outputs or credentials.
var mustPlant = []string{
	"github.com/brokerkit/brokerkit/binding",
	"github.com/brokerkit/brokerkit/broker",
	"github.com/brokerkit/brokerkit/catalog",
	"github.com/brokerkit/brokerkit/credentials",
	"github.com/brokerkit/brokerkit/provisioner",
	"github.com/brokerkit/brokerkit/provisioner/accesskeys",
	"github.com/brokerkit/brokerkit/provisioner/cloudformation",
	"github.com/brokerkit/brokerkit/examples/integration",
	"github.com/brokerkit/brokerkit/examples/awsbroker/proof",
}

// TestNoCanaryLeaks runs the tests of every module of the repository with
// the canary on and the race detector, and fails if the canary appears in
// any output line (logs of the code under test, test output, panics), if
// any test fails, or if a package of mustPlant never planted it. It
// prints go test's result line of every package, the failed tests'
// output, and the proof suites' counts (which run in a canary run). It
// runs only under `make canary` (BROKERKIT_CANARY_RUN=1), since it runs
// the whole suite: make test's race run is this run.
func TestNoCanaryLeaks(t *testing.T) {
	if os.Getenv("BROKERKIT_CANARY_RUN") != "1" {
		t.Skip("runs under `make canary` (BROKERKIT_CANARY_RUN=1): it runs every package's tests")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var modules []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			modules = append(modules, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	total := canary.Report{Planted: map[string]int{}}
	for _, dir := range modules {
		// -race: this run is also make test's race run.
		cmd := exec.CommandContext(t.Context(), "go", "test", "-race", "-json", "-count=1", "-timeout", "20m", "./...")
		cmd.Dir = dir
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "BROKERKIT_CANARY_RUN=")
		}), canary.Env+"=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		runErr := cmd.Run()
		rep, err := canary.Scan(bytes.NewReader(out.Bytes()), canary.Secret)
		if err != nil {
			t.Fatalf("%s: reading go test -json: %v", dir, err)
		}
		if runErr != nil && rep.Failed == 0 && len(rep.Leaks) == 0 {
			t.Errorf("%s: go test failed without a failing test (build error?): %v\n%s", dir, runErr, tail(out.String(), 40))
		}
		for _, l := range rep.Packages {
			fmt.Println(l)
		}
		for _, name := range rep.FailedNames {
			fmt.Printf("--- FAIL: %s\n%s\n", name, strings.Join(rep.FailedOutput[name], "\n"))
		}
		total.Summaries = append(total.Summaries, rep.Summaries...)
		total.Leaks = append(total.Leaks, rep.Leaks...)
		total.Tests += rep.Tests
		total.Failed += rep.Failed
		total.FailedNames = append(total.FailedNames, rep.FailedNames...)
		for p, n := range rep.Planted {
			total.Planted[p] += n
		}
	}
	// The proof suites' counts, where the CI log shows them.
	for _, l := range total.Summaries {
		fmt.Println(l)
	}
	t.Log(total.Summary())
	for _, l := range total.Leaks {
		t.Errorf("the canary leaked: %s", l)
	}
	if total.Failed > 0 {
		t.Errorf("%d tests failed in the canary run: %q", total.Failed, total.FailedNames)
	}
	for _, p := range mustPlant {
		if total.Planted[p] == 0 {
			t.Errorf("no test of %s planted the canary", p)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
