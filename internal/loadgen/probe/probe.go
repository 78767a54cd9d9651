package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"time"
)

// EnvSocket names the environment variable holding the Unix socket path
// that [StartFromEnv] listens on.
const EnvSocket = "BROKERKIT_PROBE_SOCKET"

// Sample is one reading of a process's runtime.
type Sample struct {
	// Goroutines is runtime.NumGoroutine, the probe's own two included.
	Goroutines int `json:"goroutines"`
	// HeapAlloc, HeapInuse and Sys are runtime.MemStats' fields of those
	// names, in bytes. After a forced GC, HeapAlloc is the live heap.
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapInuse uint64 `json:"heap_inuse"`
	Sys       uint64 `json:"sys"`
	NumGC     uint32 `json:"num_gc"`
}

// Handler answers GET / with a Sample in JSON; with the query gc=1 it runs
// runtime.GC first, so that HeapAlloc is the live heap. It also serves
// net/http/pprof's profiles under /debug/pprof/, to find where the process
// spends its time under load.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s := Sample{Goroutines: runtime.NumGoroutine(), HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, Sys: m.Sys, NumGC: m.NumGC}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	return mux
}

// StartFromEnv serves Handler on the Unix socket named by EnvSocket, if
// set, in a goroutine that lives as long as the process. Without the
// variable it does nothing. A failure to listen is printed to stderr and
// otherwise ignored: the program runs on, and the test reading the
// probe fails.
func StartFromEnv() {
	path := os.Getenv(EnvSocket)
	if path == "" {
		return
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		return
	}
	go func() { _ = http.Serve(ln, Handler()) }()
}

// Profile writes a CPU profile of the next d of the process behind the
// probe at path to w.
func Profile(ctx context.Context, path string, d time.Duration, w io.Writer) error {
	c := client(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://probe/debug/pprof/profile?seconds=%d", max(int(d/time.Second), 1)), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("probe: " + resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func client(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}
}

// Read asks the probe on the Unix socket at path for a Sample, after a GC
// if gc is true. It opens a connection per call, so that no idle
// connection (and its goroutine in the probed process) outlives it.
func Read(ctx context.Context, path string, gc bool) (Sample, error) {
	c := client(path)
	url := "http://probe/"
	if gc {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, errors.New("probe: " + resp.Status)
	}
	var s Sample
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Sample{}, fmt.Errorf("probe: %w", err)
	}
	return s, nil
}
