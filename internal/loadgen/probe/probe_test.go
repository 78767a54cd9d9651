package probe_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/brokerkit/brokerkit/internal/loadgen/probe"
)

func TestRead(t *testing.T) {
	// Not parallel: it counts goroutines of this process.
	path := filepath.Join(t.TempDir(), "probe.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: probe.Handler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	first, err := probe.Read(context.Background(), path, true)
	if err != nil {
		t.Fatal(err)
	}
	if first.Goroutines < 2 || first.HeapAlloc == 0 || first.Sys == 0 || first.NumGC == 0 {
		t.Errorf("sample %+v: want goroutines ≥ 2, a heap, Sys and a GC (gc=1 was asked)", first)
	}
	// Reading again does not leave goroutines behind.
	for range 20 {
		if _, err := probe.Read(context.Background(), path, false); err != nil {
			t.Fatal(err)
		}
	}
	last, err := probe.Read(context.Background(), path, false)
	if err != nil {
		t.Fatal(err)
	}
	if last.Goroutines > first.Goroutines+2 {
		t.Errorf("goroutines %d after 21 reads, %d before: each read leaves one behind", last.Goroutines, first.Goroutines)
	}
}

func TestStartFromEnvWithoutVariable(t *testing.T) {
	t.Setenv(probe.EnvSocket, "")
	probe.StartFromEnv() // does nothing, and must not panic
}
