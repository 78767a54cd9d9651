package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/brokerkit/brokerkit/internal/loadgen"
)

// The exit codes.
const (
	exitPass   = 0
	exitMissed = 1 // a target missed, or a request failed
	exitSetup  = 2 // the test could not run
)

// envBare marks the bare server's process, so that a test binary
// re-executed as the bare server (see main_test.go) knows it is one.
const envBare = "BROKERKIT_LOADTEST_BARE"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is one run's settings.
type config struct {
	// Conns is the number of keep-alive connections (and closed-loop
	// workers) per side in the throughput phase.
	Conns int
	// Rounds and Round: per endpoint, Rounds rounds of Round per side,
	// each after Warmup.
	Rounds        int
	Round, Warmup time.Duration
	// ThroughputInstances are provisioned, with stacks that complete at
	// once, before the throughput phase; its last_operation requests read
	// them. ReadyPoll is that broker's -poll-interval: its Tracker's first
	// poll of an operation, which finds the stack complete.
	ThroughputInstances int
	ReadyPoll           time.Duration
	// Instances are provisioned, with stacks that stay in progress, in a
	// second broker before polling; Pollers poll them for Poll.
	Instances, Pollers int
	Poll               time.Duration
	// SetupWorkers send the setup's provisions.
	SetupWorkers int
	// Logs, if not nil, receives the children's output.
	Logs io.Writer
	// Progress receives one line per step.
	Progress io.Writer
	// ProfileDir, if set, receives a CPU profile of the broker during its
	// first counted round of each endpoint (<endpoint>.pprof).
	ProfileDir string
	// Enforce makes a missed ratio target fail the run (the full mode).
	// Without it (the short mode) the targets are reported only: rounds
	// of 3s on a shared CI machine are too noisy for a 10% threshold.
	// Failed requests and the polling phase's limits fail the run in
	// either mode.
	Enforce bool
}

func fullConfig() config {
	return config{Conns: 64, Rounds: 3, Round: 10 * time.Second, Warmup: time.Second,
		ThroughputInstances: 1000, ReadyPoll: time.Second,
		Instances: 5000, Pollers: 200, Poll: 2 * time.Minute, SetupWorkers: 64, Enforce: true}
}

// shortConfig is the full run with shorter durations (CI), whose ratio
// targets are reported but not enforced: the same connections, instances
// and pollers.
func shortConfig() config {
	c := fullConfig()
	c.Round, c.Warmup, c.Poll = 3*time.Second, 500*time.Millisecond, 20*time.Second
	c.Enforce = false
	return c
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", os.Getenv("BENCH_SHORT") == "1", "shorter rounds (3s) and polling (20s); ratio targets reported, not enforced; default from BENCH_SHORT=1")
	def := fullConfig()
	conns := fs.Int("conns", def.Conns, "keep-alive `connections` per side in the throughput rounds")
	rounds := fs.Int("rounds", def.Rounds, "`rounds` per endpoint and side")
	round := fs.Duration("round", 0, "`duration` of one round (default 10s, 3s with -short)")
	thrInstances := fs.Int("throughput-instances", def.ThroughputInstances, "finished `instances` whose last_operation the throughput rounds read")
	instances := fs.Int("instances", def.Instances, "`instances` provisioned and tracked (in progress) during polling")
	pollers := fs.Int("pollers", def.Pollers, "concurrent last_operation `pollers`")
	poll := fs.Duration("poll", 0, "polling `duration` (default 2m, 20s with -short)")
	profileDir := fs.String("cpuprofile", "", "`directory` for CPU profiles of the broker, one per endpoint, taken in its first round")
	verbose := fs.Bool("v", false, "copy the broker's and the bare server's output to stderr")
	bare := fs.Bool("bare", false, "internal: be the bare server, serving the answers in -answers")
	answersFile := fs.String("answers", "", "internal: with -bare, the `file` of captured answers")
	listen := fs.String("listen", "127.0.0.1:0", "internal: with -bare, the `address` to serve on")
	if err := fs.Parse(args); err != nil {
		return exitSetup
	}
	if *bare {
		if err := runBare(ctx, *listen, *answersFile, stderr); err != nil {
			fmt.Fprintf(stderr, "loadtest -bare: %v\n", err)
			return exitSetup
		}
		return exitPass
	}
	cfg := fullConfig()
	if *short {
		cfg = shortConfig()
	}
	cfg.Conns, cfg.Rounds, cfg.ThroughputInstances, cfg.Instances, cfg.Pollers = *conns, *rounds, *thrInstances, *instances, *pollers
	if *round > 0 {
		cfg.Round = *round
	}
	if *poll > 0 {
		cfg.Poll = *poll
	}
	if cfg.Conns < 1 || cfg.Rounds < 1 || cfg.ThroughputInstances < 1 || cfg.Instances < 1 || cfg.Pollers < 1 {
		fmt.Fprintln(stderr, "loadtest: -conns, -rounds, -throughput-instances, -instances and -pollers must be at least 1")
		return exitSetup
	}
	cfg.Progress, cfg.ProfileDir = stderr, *profileDir
	if *verbose {
		cfg.Logs = stderr
	}
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return exitSetup
	}
	rep.print(stdout)
	if !rep.pass() {
		return exitMissed
	}
	return exitPass
}

// platform is how the load test talks to the broker, as a platform would.
type platform struct {
	auth              string // the Authorization header
	serviceID, planID string
	provisionBody     []byte
}

func (p *platform) request(method, url string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header["Authorization"] = []string{p.auth}
	req.Header["X-Broker-Api-Version"] = []string{"2.17"}
	if body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	return req, nil
}

func (p *platform) provisionURL(base, id string) string {
	return base + "/v2/service_instances/" + id + "?accepts_incomplete=true"
}

func (p *platform) lastOperationURL(base, id, op string) string {
	return base + "/v2/service_instances/" + id + "/last_operation?service_id=" + p.serviceID + "&plan_id=" + p.planID + "&operation=" + op
}

// instance is one provisioned instance and its operation.
type instance struct{ id, op string }

// run runs every phase and returns the report.
//
// The two phases have a broker process each, with its own fake AWS and
// data directory. The throughput phase's broker has only finished
// instances, so that its Tracker is idle as the bare server is and the
// rounds compare the serving paths; its provision rounds leave tens of
// thousands more finished instances behind. The polling phase's broker
// has its 5,000 instances in progress, tracked for the whole phase, and
// nothing else: its memory is measured from a start that holds no other
// phase's records or garbage, and no fake needs a switch flipped between
// the phases.
func run(ctx context.Context, cfg config) (*report, error) {
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "loadtest: "+format+"\n", args...)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "brokerkit-loadtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	progress("building examples/awsbroker with the probe overlay")
	bin, err := buildBroker(ctx, root, dir)
	if err != nil {
		return nil, err
	}
	password := randomHex(16)
	pf := &platform{auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("platform:"+password))}
	rep := &report{cfg: cfg}

	// Throughput: a broker whose instances are all finished.
	tb, err := startBroker(ctx, cfg, bin, dir, "throughput", password, 0, cfg.ReadyPoll)
	if err != nil {
		return nil, err
	}
	defer tb.stop()
	progress("throughput broker serving at %s (pid %d)", tb.url, tb.pid())
	setupClient := loadgen.NewClient(cfg.SetupWorkers)
	var ans answers
	if ans.Catalog, err = fetch(ctx, setupClient, pf, http.MethodGet, tb.url+"/v2/catalog", nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if pf.serviceID, pf.planID, err = findPlan(ans.Catalog.Body, "sqs", "standard"); err != nil {
		return nil, err
	}
	pf.provisionBody, _ = json.Marshal(map[string]string{"service_id": pf.serviceID, "plan_id": pf.planID,
		"organization_guid": "org-loadtest", "space_guid": "space-loadtest"})
	progress("provisioning %d instances whose stacks complete at once", cfg.ThroughputInstances)
	t0 := time.Now()
	var insts []instance
	if ans.Provision, insts, err = provisionAll(ctx, setupClient, pf, tb.url, cfg.ThroughputInstances, cfg.SetupWorkers); err != nil {
		return nil, err
	}
	rep.thrSetup = time.Since(t0)
	t0 = time.Now()
	if err := waitSucceeded(ctx, setupClient, pf, tb.url, insts, 2*time.Minute+10*cfg.ReadyPoll); err != nil {
		return nil, err
	}
	rep.thrReady = time.Since(t0)
	if ans.LastOperation, err = fetch(ctx, setupClient, pf, http.MethodGet, pf.lastOperationURL(tb.url, insts[0].id, insts[0].op), nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("last_operation: %w", err)
	}
	setupClient.CloseIdleConnections()
	progress("provisioned %d instances in %v, all succeeded %v later; last_operation answers %s", len(insts),
		rep.thrSetup.Round(time.Millisecond), rep.thrReady.Round(time.Millisecond), bytes.TrimSpace(ans.LastOperation.Body))

	answersFile := filepath.Join(dir, "answers.json")
	b, _ := json.Marshal(&ans)
	if err := os.WriteFile(answersFile, b, 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bareProc, bareURL, err := startProc(ctx, "bare", exe, []string{"-bare", "-answers", answersFile, "-listen", "127.0.0.1:0"},
		append(os.Environ(), envBare+"=1"), cfg.Logs)
	if err != nil {
		return nil, err
	}
	defer bareProc.stop()
	progress("bare server serving at %s (pid %d)", bareURL, bareProc.pid())
	sides := []*side{
		{name: "broker", url: tb.url, pid: tb.pid(), client: loadgen.NewClient(cfg.Conns), probe: tb.probe},
		{name: "bare", url: bareURL, pid: bareProc.pid(), client: loadgen.NewClient(cfg.Conns)},
	}
	if rep.throughput, err = throughputPhase(ctx, cfg, pf, sides, insts, progress); err != nil {
		return nil, err
	}
	for _, s := range sides {
		s.client.CloseIdleConnections()
	}
	bareProc.stop()
	if err := tb.stop(); err != nil {
		return nil, err
	}

	// Polling: a second broker, whose instances stay in progress.
	pb, err := startBroker(ctx, cfg, bin, dir, "polling", password, inProgress, 0)
	if err != nil {
		return nil, err
	}
	defer pb.stop()
	progress("polling broker serving at %s (pid %d); provisioning %d instances whose stacks stay in progress", pb.url, pb.pid(), cfg.Instances)
	setupClient = loadgen.NewClient(cfg.SetupWorkers)
	t0 = time.Now()
	if _, insts, err = provisionAll(ctx, setupClient, pf, pb.url, cfg.Instances, cfg.SetupWorkers); err != nil {
		return nil, err
	}
	rep.setup = time.Since(t0)
	// With the setup's connections closed, the broker's idle goroutines
	// can be counted.
	setupClient.CloseIdleConnections()
	progress("provisioned %d instances in %v; polling: %d pollers for %v", len(insts), rep.setup.Round(time.Millisecond), cfg.Pollers, cfg.Poll)
	if rep.poll, err = pollPhase(ctx, cfg, pf, pb.url, pb.pid(), pb.probe, insts); err != nil {
		return nil, err
	}
	if err := pb.stop(); err != nil {
		return nil, err
	}
	return rep, nil
}

// brokerProc is a running example broker and the fake AWS it talks to.
type brokerProc struct {
	*proc
	aws *fakeAWS
	// url is where it serves; probe is its probe's socket.
	url, probe string
}

// startBroker starts the broker binary bin with a data directory of its
// own under dir, against a fake AWS of its own whose stacks stay
// CREATE_IN_PROGRESS for stackDelay, with -poll-interval pollInterval if
// positive (the default, 5s, otherwise).
func startBroker(ctx context.Context, cfg config, bin, dir, name, password string, stackDelay, pollInterval time.Duration) (*brokerProc, error) {
	aws, err := startFakeAWS(stackDelay)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, name)
	if err := os.Mkdir(home, 0o700); err != nil {
		aws.Close()
		return nil, err
	}
	probeSocket := filepath.Join(home, "probe.sock")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"BROKER_USERS=platform:" + password, "BROKER_DATA_DIR=" + filepath.Join(home, "data"),
		"AWS_ENDPOINT_URL=" + aws.STSURL, "AWS_ENDPOINT_URL_STS=" + aws.STSURL, "AWS_ENDPOINT_URL_CLOUDFORMATION=" + aws.CFNURL,
		"AWS_ACCESS_KEY_ID=AKIALOADTEST", "AWS_SECRET_ACCESS_KEY=loadtest",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "BROKERKIT_PROBE_SOCKET=" + probeSocket,
	}
	// -rate 1000 (the highest allowed): the default of 5 CloudFormation
	// calls per second would make the provisions wait for the limiter,
	// which measures the limiter.
	args := []string{"-listen", "127.0.0.1:0", "-region", "us-east-1", "-rate", "1000"}
	if pollInterval > 0 {
		args = append(args, "-poll-interval", pollInterval.String())
	}
	p, url, err := startProc(ctx, name+" broker", bin, args, env, cfg.Logs)
	if err != nil {
		aws.Close()
		return nil, err
	}
	return &brokerProc{proc: p, aws: aws, url: url, probe: probeSocket}, nil
}

// stop stops the broker and its fake AWS. It returns an error if the
// broker did not exit cleanly: it must stop as well as it serves.
func (b *brokerProc) stop() error {
	b.proc.stop()
	b.aws.Close()
	if st := b.cmd.ProcessState; st == nil || !st.Success() {
		return fmt.Errorf("the %s exited with %v; its output ends with:\n%s", b.name, st, b.out)
	}
	return nil
}

// waitSucceeded polls last_operation of every instance in insts until
// each answers succeeded, or fails after limit. Every one, not a sample:
// then the broker's Tracker has none of them in progress, and a thousand
// requests take well under a second. An instance that answers anything
// but "in progress" or "succeeded" is an error.
func waitSucceeded(ctx context.Context, c *http.Client, pf *platform, base string, insts []instance, limit time.Duration) error {
	pending := slices.Clone(insts)
	deadline := time.Now().Add(limit)
	for {
		var still []instance
		for _, in := range pending {
			a, err := fetch(ctx, c, pf, http.MethodGet, pf.lastOperationURL(base, in.id, in.op), nil, http.StatusOK)
			if err != nil {
				return fmt.Errorf("last_operation: %w", err)
			}
			var st struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal(a.Body, &st); err != nil {
				return fmt.Errorf("last_operation answer %q: %w", a.Body, err)
			}
			switch st.State {
			case "succeeded":
			case "in progress":
				still = append(still, in)
			default:
				return fmt.Errorf("instance %s: last_operation answers %s", in.id, bytes.TrimSpace(a.Body))
			}
		}
		if len(still) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d instances still in progress after %v (their stacks complete at once)", len(still), len(insts), limit)
		}
		pending = still
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fetch sends one request and captures its answer, which must have the
// status want.
func fetch(ctx context.Context, c *http.Client, pf *platform, method, url string, body []byte, want int) (answer, error) {
	req, err := pf.request(method, url, body)
	if err != nil {
		return answer{}, err
	}
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return answer{}, err
	}
	a, err := capture(resp)
	if err != nil {
		return answer{}, err
	}
	if a.Status != want {
		return answer{}, fmt.Errorf("%s %s: status %d, want %d: %s", method, req.URL.Path, a.Status, want, a.Body)
	}
	return a, nil
}

// findPlan returns the IDs of the named service and plan in a catalog.
func findPlan(catalog []byte, service, plan string) (string, string, error) {
	var c struct {
		Services []struct {
			ID, Name string
			Plans    []struct{ ID, Name string }
		}
	}
	if err := json.Unmarshal(catalog, &c); err != nil {
		return "", "", fmt.Errorf("catalog: %w", err)
	}
	for _, s := range c.Services {
		for _, p := range s.Plans {
			if s.Name == service && p.Name == plan {
				return s.ID, p.ID, nil
			}
		}
	}
	return "", "", fmt.Errorf("the catalog has no service %q with a plan %q", service, plan)
}

// provisionAll provisions n new instances with workers requests at a
// time; every answer must be 202. It returns the first instance's answer
// too (for the bare server to repeat).
func provisionAll(ctx context.Context, c *http.Client, pf *platform, base string, n, workers int) (answer, []instance, error) {
	insts := make([]instance, n)
	var first answer
	next := make(chan int)
	errs := make(chan error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		go func() {
			for i := range next {
				id := newID()
				a, err := fetch(ctx, c, pf, http.MethodPut, pf.provisionURL(base, id), pf.provisionBody, http.StatusAccepted)
				var op struct {
					Operation string `json:"operation"`
				}
				if err == nil {
					err = json.Unmarshal(a.Body, &op)
				}
				if err != nil {
					cancel()
					errs <- fmt.Errorf("provisioning instance %d: %w", i, err)
					return
				}
				insts[i] = instance{id, op.Operation}
				if i == 0 {
					first = a
				}
			}
			errs <- nil
		}()
	}
	func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var all []error
	for range workers {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return answer{}, nil, err
	}
	return first, insts, ctx.Err()
}

// newID returns a random UUID (version 4), as platforms send.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
