package proof

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/internal/procgroup"
)

var long = flag.Bool("long", os.Getenv("BROKERKIT_PROOF_LONG") == "1", "run the issue's full numbers (100 provisions and binds, 30s outage)")

// TestMain stops moto and checks for leaked goroutines (mototest.Main).
func TestMain(m *testing.M) { mototest.Main(m) }

// The platform's credentials: two, as during a rotation.
const (
	platformUser      = "platform"
	platformPassword  = "proof-password-1"
	platformUser2     = "platform-next"
	platformPassword2 = "proof-password-2"
)

// gate skips the suites outside `make proof` and the canary run: each
// takes tens of seconds and starts processes.
func gate(t *testing.T) {
	t.Helper()
	if os.Getenv("BROKERKIT_PROOF") != "1" && !canary.On() && !*long {
		t.Skip("process-level proofs: run `make proof` (BROKERKIT_PROOF=1)")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// brokerBinary builds examples/awsbroker once per test process (with
// -race when the tests run with it), into a directory removed by the OS's
// temp cleaning; go's build cache makes later builds quick.
func brokerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "proof-awsbroker-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "awsbroker")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "..")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// summary prints one line of counts to stdout, where `make proof` shows
// it, and to the test's log.
func summary(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("proof: %s: ", t.Name()) + fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Println(line)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// brokerProc is the example broker run as a process, restartable on the
// same files.
type brokerProc struct {
	t    *testing.T
	bin  string
	dir  string // the data directory: state.db, bindings.db, binding.key
	env  []string
	args []string
	// out is the output of every run, in order.
	out *syncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	url    string
	starts int
}

var servingRE = regexp.MustCompile(`msg=serving url=(\S+)`)

// newBroker prepares a broker process with data directory dir, AWS
// environment awsEnv (KEY=value) and extra flags; start runs it.
func newBroker(t *testing.T, dir string, awsEnv []string, args ...string) *brokerProc {
	none := filepath.Join(dir, "no-aws-config")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"BROKER_USERS=" + platformUser + ":" + platformPassword + "," + platformUser2 + ":" + platformPassword2,
		"AWS_ACCESS_KEY_ID=AKIAMOTOTEST", "AWS_SECRET_ACCESS_KEY=motosecret",
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none}
	env = append(env, awsEnv...)
	all := append([]string{"-listen", "127.0.0.1:0", "-region", mototest.Region, "-state", filepath.Join(dir, "state.db"),
		"-log-level", "debug"}, args...)
	b := &brokerProc{t: t, bin: brokerBinary(t), dir: dir, env: env, args: all, out: &syncBuffer{}}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("broker output (%d starts):\n%s", b.starts, tail(b.out.String(), 200))
		}
	})
	return b
}

// start runs the broker and waits until it serves (or fails t).
func (b *brokerProc) start() {
	b.t.Helper()
	if err := b.startNoWait(); err != nil {
		b.t.Fatal(err)
	}
	if err := b.waitServing(time.Minute); err != nil {
		b.t.Fatal(err)
	}
}

// startNoWait starts the process; its URL is known once waitServing
// returns.
func (b *brokerProc) startNoWait() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cmd := exec.Command(b.bin, b.args...)
	cmd.Env = b.env
	procgroup.Set(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	b.starts++
	fmt.Fprintf(b.out, "--- start %d\n", b.starts)
	done := make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		_ = cmd.Wait()
		pw.Close()
	}()
	go func() {
		defer close(done)
		w := io.MultiWriter(b.out, canary.Writer(b.t))
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(w, line)
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	b.cmd, b.done, b.url = cmd, done, ""
	go func() {
		select {
		case u := <-urls:
			b.mu.Lock()
			if b.cmd == cmd {
				b.url = u
			}
			b.mu.Unlock()
		case <-done:
		}
	}()
	return nil
}

// waitServing waits until the running process logged its URL.
func (b *brokerProc) waitServing(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		u, done := b.url, b.done
		b.mu.Unlock()
		if u != "" {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the broker exited before serving:\n%s", tail(b.out.String(), 40))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the broker did not serve within %v:\n%s", d, tail(b.out.String(), 40))
}

// URL is the running process's base URL, "" while none serves.
func (b *brokerProc) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

// kill sends SIGKILL and waits for the process to be gone.
func (b *brokerProc) kill() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.url = ""
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	procgroup.Kill(cmd)
	<-done
}

// stop asks the process to stop (SIGTERM) and waits, killing it after 25s.
func (b *brokerProc) stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd, b.url = nil, ""
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	procgroup.Terminate(cmd)
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		procgroup.Kill(cmd)
		<-done
	}
}

// client is a platform client of the running process, following
// restarts: each request goes to the URL current at that moment.
func (b *brokerProc) client() *brokertest.Client {
	return b.clientAs(platformUser, platformPassword)
}

func (b *brokerProc) clientAs(user, password string) *brokertest.Client {
	u := b.URL()
	if u == "" {
		u = "http://127.0.0.1:1" // refused: the caller retries
	}
	return brokertest.NewClient(u, brokertest.ClientOptions{Username: user, Password: password,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

// checkLog fails t if the broker's output shows a panic, a data race or
// the canary.
func (b *brokerProc) checkLog(t *testing.T) {
	t.Helper()
	out := b.out.String()
	for _, bad := range []string{"panic:", "DATA RACE", "fatal error:", canary.Secret} {
		if strings.Contains(out, bad) {
			i := strings.Index(out, bad)
			t.Errorf("the broker's output holds %q:\n%s", bad, out[max(0, i-2000):min(len(out), i+4000)])
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

// retry calls f until it returns true or ctx ends, sleeping between.
func retry(ctx context.Context, f func() bool) bool {
	for {
		if f() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
