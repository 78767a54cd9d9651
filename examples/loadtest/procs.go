package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/internal/procgroup"
)

// probeFile is the file the overlay adds to examples/awsbroker: it starts
// the probe when BROKERKIT_PROBE_SOCKET is set.
const probeFile = `package main

import "github.com/brokerkit/brokerkit/internal/loadgen/probe"

func init() { probe.StartFromEnv() }
`

// buildBroker builds examples/awsbroker of the module at root into dir,
// with the probe file added by an overlay (the source tree is untouched).
func buildBroker(ctx context.Context, root, dir string) (string, error) {
	src := filepath.Join(dir, "probe_overlay.go")
	if err := os.WriteFile(src, []byte(probeFile), 0o600); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "examples", "awsbroker", "zz_loadtest_probe.go"): src,
	}})
	if err != nil {
		return "", err
	}
	ovl := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovl, overlay, 0o600); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "awsbroker")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ovl, "-o", bin, "./examples/awsbroker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/awsbroker: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot returns the directory of the module of the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run loadtest from within the brokerkit repository (go run ./examples/loadtest)")
	}
	return filepath.Dir(gomod), nil
}

// servingRE finds the URL in a "serving" log line, the broker's
// (slog's text format) and the bare server's alike.
var servingRE = regexp.MustCompile(`msg=serving url=(\S+)`)

// proc is a child process: the broker or the bare server.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *procgroup.Tail
	exited chan struct{}
	url    chan string
}

// startProc starts path in its own process group and waits for its
// "serving url=..." line.
func startProc(ctx context.Context, name, path string, args, env []string, logs io.Writer) (*proc, string, error) {
	p := &proc{name: name, out: &procgroup.Tail{Max: 16 << 10}, exited: make(chan struct{}), url: make(chan string, 1)}
	var w io.Writer = &lineWatcher{p: p}
	if logs != nil {
		w = io.MultiWriter(w, logs)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = w, w
	procgroup.Set(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	select {
	case u := <-p.url:
		return p, u, nil
	case <-p.exited:
		return nil, "", fmt.Errorf("%s exited (%s) before serving; its output ends with:\n%s", name, p.cmd.ProcessState, p.out)
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("%s did not serve within 60s; its output ends with:\n%s", name, p.out)
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

// stop asks the process group to stop, waits up to 25s (the broker
// shuts down gracefully within 20s), then kills it.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	procgroup.Terminate(p.cmd)
	select {
	case <-p.exited:
	case <-time.After(25 * time.Second):
		procgroup.Kill(p.cmd)
		<-p.exited
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// lineWatcher keeps a process's output and sends the URL of its first
// "serving" line.
type lineWatcher struct {
	p       *proc
	mu      sync.Mutex
	partial []byte
	found   bool
}

func (l *lineWatcher) Write(b []byte) (int, error) {
	l.p.out.Write(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.found {
		return len(b), nil
	}
	l.partial = append(l.partial, b...)
	for {
		i := strings.IndexByte(string(l.partial), '\n')
		if i < 0 {
			break
		}
		if m := servingRE.FindSubmatch(l.partial[:i]); m != nil {
			l.found = true
			l.p.url <- string(m[1])
			l.partial = nil
			break
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

// rss returns the resident set size of process pid, from
// /proc/PID/status (VmRSS).
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// cpuTime returns the user plus system CPU time process pid has used,
// from /proc/PID/stat, with a resolution of 10ms.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis. utime and stime are fields
	// 14 and 15, so the 12th and 13th after the name.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+k) * clockTick, nil
}
