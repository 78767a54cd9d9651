package main

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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/internal/procgroup"
)

// proc is a child process of the demo: moto_server or the broker.
type proc struct {
	name     string
	cmd      *exec.Cmd
	output   *procgroup.Tail
	exited   chan struct{}
	stopOnce sync.Once
}

// startProc starts path with args in its own process group. Its output is
// kept (the last 16 KiB, for the message of a failure) and also copied to
// logs if not nil.
func startProc(name, path string, args, env []string, logs io.Writer) (*proc, error) {
	p := &proc{name: name, output: &procgroup.Tail{Max: 16 << 10}, exited: make(chan struct{})}
	var w io.Writer = p.output
	if logs != nil {
		w = io.MultiWriter(p.output, &prefixWriter{w: logs, prefix: name + "| "})
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout = w
	p.cmd.Stderr = w
	procgroup.Set(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop asks the process group to stop, waits up to grace, then kills it.
// It is safe to call more than once.
func (p *proc) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		procgroup.Terminate(p.cmd)
		select {
		case <-p.exited:
		case <-time.After(grace):
			procgroup.Kill(p.cmd)
			<-p.exited
		}
	})
}

// hasExited reports whether the process has ended.
func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitReady calls ready until it returns nil, the process exits, ctx ends
// or timeout passes.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if p.hasExited() {
			return fmt.Errorf("%s exited before answering (%s)%s", p.name, p.cmd.ProcessState, p.outputText())
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(rctx)
		rcancel()
		if last == nil {
			return nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s did not answer within %v (last: %v)%s", p.name, timeout, last, p.outputText())
		case <-t.C:
		}
	}
}

// outputText is the kept output, for an error message.
func (p *proc) outputText() string {
	s := p.output.String()
	if s == "" {
		return ""
	}
	return "; its output ends with:\n" + s
}

// addressInUse reports whether a process that exited early failed to
// listen because another process took its port first.
func (p *proc) addressInUse() bool {
	return p.hasExited() && strings.Contains(strings.ToLower(p.output.String()), "address already in use")
}

// freePort returns a port of 127.0.0.1 that was free a moment ago. Another
// process may take it first; callers retry on "address already in use".
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMoto starts moto_server on a free loopback port and waits until it
// answers.
func startMoto(ctx context.Context, path string, logs io.Writer) (*proc, string, error) {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		p, err := startProc("moto_server", path, []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}, os.Environ(), logs)
		if err != nil {
			return nil, "", err
		}
		err = p.waitReady(ctx, 60*time.Second, func(ctx context.Context) error { return httpOK(ctx, url+"/moto-api/") })
		if err == nil {
			return p, url, nil
		}
		p.stop(5 * time.Second)
		if attempt == 3 || !p.addressInUse() {
			return nil, "", err
		}
	}
}

// httpOK GETs url and wants a 200.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// moduleRoot returns the directory of the go.mod of the working directory,
// which the demo must be run from within.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("the working directory is not inside the brokerkit module: run the demo from the repository (go run ./examples/demo)")
	}
	return filepath.Dir(gomod), nil
}

// buildBroker builds examples/awsbroker of the module at root into dir.
func buildBroker(ctx context.Context, goCmd, root, dir string) (string, error) {
	bin := filepath.Join(dir, "awsbroker")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./examples/awsbroker")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if _, serr := os.Stat(filepath.Join(root, "examples", "awsbroker")); serr != nil {
			msg += "\n(" + filepath.Join(root, "examples", "awsbroker") + " does not exist)"
		}
		return "", fmt.Errorf("go build ./examples/awsbroker: %w\n%s", err, msg)
	}
	return bin, nil
}

// childEnv is the demo's environment without any AWS_ variable, so that
// a developer's AWS profile, credentials or endpoint cannot reach the
// broker, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// prefixWriter writes each line with a prefix. Lines of concurrent writers
// stay whole because each Write of a child's output is written at once.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		out.WriteString(p.prefix)
		out.Write(p.partial[:i+1])
		p.partial = p.partial[i+1:]
	}
	if out.Len() > 0 {
		if _, err := p.w.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
