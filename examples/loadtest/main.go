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
	// Instances are provisioned before polling; Pollers poll them for
	// Poll.
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
}

func fullConfig() config {
	return config{Conns: 64, Rounds: 3, Round: 10 * time.Second, Warmup: time.Second,
		Instances: 5000, Pollers: 200, Poll: 2 * time.Minute, SetupWorkers: 64}
}

// shortConfig is the full run with shorter durations (CI): the same
// targets, connections, instances and pollers.
func shortConfig() config {
	c := fullConfig()
	c.Round, c.Warmup, c.Poll = 3*time.Second, 500*time.Millisecond, 20*time.Second
	return c
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", os.Getenv("BENCH_SHORT") == "1", "shorter rounds (3s) and polling (20s), same targets; default from BENCH_SHORT=1")
	def := fullConfig()
	conns := fs.Int("conns", def.Conns, "keep-alive `connections` per side in the throughput rounds")
	rounds := fs.Int("rounds", def.Rounds, "`rounds` per endpoint and side")
	round := fs.Duration("round", 0, "`duration` of one round (default 10s, 3s with -short)")
	instances := fs.Int("instances", def.Instances, "`instances` provisioned and tracked during polling")
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
	cfg.Conns, cfg.Rounds, cfg.Instances, cfg.Pollers = *conns, *rounds, *instances, *pollers
	if *round > 0 {
		cfg.Round = *round
	}
	if *poll > 0 {
		cfg.Poll = *poll
	}
	if cfg.Conns < 1 || cfg.Rounds < 1 || cfg.Instances < 1 || cfg.Pollers < 1 {
		fmt.Fprintln(stderr, "loadtest: -conns, -rounds, -instances and -pollers must be at least 1")
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
	aws, err := startFakeAWS()
	if err != nil {
		return nil, err
	}
	defer aws.Close()

	password := randomHex(16)
	pf := &platform{auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("platform:"+password))}
	dataDir := filepath.Join(dir, "data")
	probeSocket := filepath.Join(dir, "probe.sock")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"BROKER_USERS=platform:" + password, "BROKER_DATA_DIR=" + dataDir,
		"AWS_ENDPOINT_URL=" + aws.STSURL, "AWS_ENDPOINT_URL_STS=" + aws.STSURL, "AWS_ENDPOINT_URL_CLOUDFORMATION=" + aws.CFNURL,
		"AWS_ACCESS_KEY_ID=AKIALOADTEST", "AWS_SECRET_ACCESS_KEY=loadtest",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "BROKERKIT_PROBE_SOCKET=" + probeSocket,
	}
	// -rate 1000 (the highest allowed): the default of 5 CloudFormation
	// calls per second would make the provisions wait for the limiter,
	// which measures the limiter. The poll interval is the default.
	brokerProc, brokerURL, err := startProc(ctx, "broker", bin,
		[]string{"-listen", "127.0.0.1:0", "-region", "us-east-1", "-rate", "1000"}, env, cfg.Logs)
	if err != nil {
		return nil, err
	}
	defer brokerProc.stop()
	progress("broker serving at %s (pid %d)", brokerURL, brokerProc.pid())

	setupClient := loadgen.NewClient(cfg.SetupWorkers)
	var ans answers
	if ans.Catalog, err = fetch(ctx, setupClient, pf, http.MethodGet, brokerURL+"/v2/catalog", nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if pf.serviceID, pf.planID, err = findPlan(ans.Catalog.Body, "sqs", "standard"); err != nil {
		return nil, err
	}
	pf.provisionBody, _ = json.Marshal(map[string]string{"service_id": pf.serviceID, "plan_id": pf.planID,
		"organization_guid": "org-loadtest", "space_guid": "space-loadtest"})

	// Setup: the instances, the first one's answer captured.
	progress("provisioning %d instances", cfg.Instances)
	first := newID()
	if ans.Provision, err = fetch(ctx, setupClient, pf, http.MethodPut, pf.provisionURL(brokerURL, first), pf.provisionBody, http.StatusAccepted); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	var op struct {
		Operation string `json:"operation"`
	}
	if err := json.Unmarshal(ans.Provision.Body, &op); err != nil {
		return nil, fmt.Errorf("provision answer %q: %w", ans.Provision.Body, err)
	}
	rep := &report{cfg: cfg}
	t0 := time.Now()
	insts, err := provisionAll(ctx, setupClient, pf, brokerURL, cfg.Instances-1, cfg.SetupWorkers)
	if err != nil {
		return nil, err
	}
	insts = append([]instance{{first, op.Operation}}, insts...)
	rep.setup = time.Since(t0)
	if ans.LastOperation, err = fetch(ctx, setupClient, pf, http.MethodGet, pf.lastOperationURL(brokerURL, first, op.Operation), nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("last_operation: %w", err)
	}
	progress("provisioned %d instances in %v; last_operation answers %s", len(insts), rep.setup.Round(time.Millisecond), bytes.TrimSpace(ans.LastOperation.Body))

	// Polling, with the setup's connections closed so that the broker's
	// idle goroutines can be counted.
	setupClient.CloseIdleConnections()
	progress("polling: %d pollers for %v", cfg.Pollers, cfg.Poll)
	if rep.poll, err = pollPhase(ctx, cfg, pf, brokerURL, brokerProc.pid(), probeSocket, insts); err != nil {
		return nil, err
	}

	// The bare server, then the throughput rounds.
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
		{name: "broker", url: brokerURL, pid: brokerProc.pid(), client: loadgen.NewClient(cfg.Conns), probe: probeSocket},
		{name: "bare", url: bareURL, pid: bareProc.pid(), client: loadgen.NewClient(cfg.Conns)},
	}
	if rep.throughput, err = throughputPhase(ctx, cfg, pf, sides, insts, progress); err != nil {
		return nil, err
	}

	// The broker must stop cleanly too.
	bareProc.stop()
	brokerProc.stop()
	if st := brokerProc.cmd.ProcessState; st == nil || !st.Success() {
		return nil, fmt.Errorf("the broker exited with %v; its output ends with:\n%s", st, brokerProc.out)
	}
	return rep, nil
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
// time; every answer must be 202.
func provisionAll(ctx context.Context, c *http.Client, pf *platform, base string, n, workers int) ([]instance, error) {
	insts := make([]instance, n)
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
		return nil, err
	}
	return insts, ctx.Err()
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
