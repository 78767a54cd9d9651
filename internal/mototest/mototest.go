package mototest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"

	"github.com/brokerkit/brokerkit/internal/procgroup"
)

// Environment variables read by [Endpoint].
const (
	// EnvEndpoint names a running moto server to use instead of starting
	// one, e.g. http://127.0.0.1:5000.
	EnvEndpoint = "BROKERKIT_MOTO_ENDPOINT"
	// EnvRequire set to 1 turns a missing moto_server from a skip into a
	// failure.
	EnvRequire = "BROKERKIT_REQUIRE_MOTO"
)

// Region is the region of [Config].
const Region = "us-east-1"

// startTimeout bounds how long Endpoint waits for a started server to
// answer. moto imports every service backend on start, which takes a few
// seconds on a loaded machine.
const startTimeout = 30 * time.Second

// skipMessage is the text of the skip when moto_server is absent.
const skipMessage = "moto_server not found on PATH; tests against moto are skipped (set " + EnvRequire + "=1 to make this a failure)"

// The server of this test binary. It is process state by nature: one
// server per binary, started by the first test that needs it and stopped
// by Main.
var (
	once   sync.Once
	srv    *server
	srvErr error
)

// server is a moto_server process started by this package.
type server struct {
	cmd      *exec.Cmd
	url      string
	output   *limitedBuffer
	exited   chan struct{}
	stopOnce sync.Once
}

// Main runs the tests of m, stops the moto_server that [Endpoint] may have
// started, fails if the tests left goroutines running (goleak, see
// [LeakOptions]), and exits with the tests' exit code. Call it from
// TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is [Main] without the exit: it returns the exit code, for a TestMain
// that checks more after the tests.
func Run(m *testing.M) int {
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(LeakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: the tests left goroutines running: %v\n", err)
			code = 1
		}
	}
	return code
}

// Start starts a moto_server of t's own, with env ("KEY=value") added to
// the process environment, e.g. INITIAL_NO_AUTH_ACTION_COUNT=3 to have
// moto check IAM policies after three calls; it returns its URL and stops
// it when t ends. BROKERKIT_MOTO_ENDPOINT is not used: a shared server
// cannot have the test's settings. Like [Endpoint], it skips t when
// moto_server is not on PATH, or fails it when BROKERKIT_REQUIRE_MOTO=1.
func Start(t testing.TB, env ...string) string {
	t.Helper()
	s, err := start(env)
	if errors.Is(err, exec.ErrNotFound) {
		missing(t, os.Getenv(EnvRequire) == "1")
		return ""
	}
	if err != nil {
		t.Fatalf("mototest: %v", err)
		return ""
	}
	t.Cleanup(s.stop)
	return s.url
}

// LeakOptions are the goroutines Main does not count as leaks: idle
// keep-alive connections of HTTP clients, which the transport closes on
// its own schedule.
var LeakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
}

// Endpoint returns the URL of a moto server (no trailing slash): the value
// of BROKERKIT_MOTO_ENDPOINT if set, else the server of this test binary,
// started on first use. If moto_server is not on PATH it skips the test,
// or fails it when BROKERKIT_REQUIRE_MOTO=1. If the server does not start
// within 30 seconds the test fails, and so does every later test that
// asks.
func Endpoint(t testing.TB) string {
	t.Helper()
	if e := os.Getenv(EnvEndpoint); e != "" {
		return strings.TrimRight(e, "/")
	}
	once.Do(func() { srv, srvErr = start(nil) })
	if srvErr != nil {
		if errors.Is(srvErr, exec.ErrNotFound) {
			missing(t, os.Getenv(EnvRequire) == "1")
			return ""
		}
		t.Fatalf("mototest: %v", srvErr)
		return ""
	}
	return srv.url
}

// missing skips t, or fails it if required, for a moto_server that is not
// on PATH.
func missing(t testing.TB, required bool) {
	t.Helper()
	if required {
		t.Fatalf("moto_server not found on PATH and %s=1: install moto (pip install 'moto[server]') or set %s", EnvRequire, EnvEndpoint)
		return
	}
	t.Skip(skipMessage)
}

// Reset wipes all state of the moto server at endpoint (every account and
// region) with POST /moto-api/reset. Tests that run in parallel on one
// server must not call it.
func Reset(t testing.TB, endpoint string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint+"/moto-api/reset", nil)
	if err != nil {
		t.Fatalf("mototest: reset: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mototest: reset: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mototest: reset: %s", resp.Status)
	}
}

// Config returns an AWS configuration for the moto server at endpoint:
// static dummy credentials, region us-east-1 and endpoint as the base
// endpoint of every service. It reads nothing from the environment or
// shared config files, so a developer's AWS profile cannot leak into a
// test. The HTTP client is the SDK's buildable client, which (unlike a
// plain *http.Client) keeps working when code applies AWS_CA_BUNDLE to it.
func Config(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAMOTOTEST", "motosecret", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   awshttp.NewBuildableClient(),
	}
}

// start starts moto_server on a free port and waits until it answers. The
// port is found by listening on port 0 and closing the listener, so
// another process may take it first: then moto exits at once and start
// tries another port. env is added to the server's environment.
func start(env []string) (*server, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(path, port, env)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(path string, port int, env []string) (*server, error) {
	s := &server{
		url:    "http://127.0.0.1:" + strconv.Itoa(port),
		output: &limitedBuffer{max: 8 << 10},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if len(env) > 0 {
		s.cmd.Env = append(os.Environ(), env...)
	}
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	procgroup.Set(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("moto_server on port %d exited before answering: %s", port, s.output.String())
		default:
		}
		resp, err := client.Get(s.url + "/moto-api/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("moto_server on port %d did not answer within %v: %s", port, startTimeout, s.output.String())
}

// stop stops the server this binary started, if any.
func stop() {
	if srv != nil {
		srv.stop()
	}
}

func (s *server) stop() {
	s.stopOnce.Do(func() {
		procgroup.Terminate(s.cmd)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			procgroup.Kill(s.cmd)
			<-s.exited
		}
	})
}

// limitedBuffer keeps the first max bytes written to it, for the error
// message of a server that did not start.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
