package loadgen_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/internal/loadgen"
)

func TestRunCountsAndKeepsConnections(t *testing.T) {
	t.Parallel()
	var conns sync.Map
	var served atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Store(c.RemoteAddr().String(), true)
		}
	}
	srv.Start()
	defer srv.Close()

	const workers = 4
	client := loadgen.NewClient(workers)
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Client: client, Workers: workers, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
		Request: func(w int, seq int64) (*http.Request, error) {
			path := "/ok"
			if w == 0 && seq%10 == 5 {
				path = "/bad"
			}
			return http.NewRequest(http.MethodGet, srv.URL+path, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors == 0 {
		t.Fatalf("Requests %d, Errors %d; want both above zero", res.Requests, res.Errors)
	}
	if res.Requests > served.Load() {
		t.Errorf("counted %d requests, but the server served only %d", res.Requests, served.Load())
	}
	if !strings.Contains(res.FirstError, "status 418, want 200") {
		t.Errorf("FirstError %q, want the unexpected status", res.FirstError)
	}
	if got, want := res.Latency.Count(), res.Requests-res.Errors; got != want {
		t.Errorf("latencies recorded for %d requests, want %d (the successful ones)", got, want)
	}
	if res.RPS() <= 0 || res.Latency.Quantile(0.99) <= 0 {
		t.Errorf("RPS %g, p99 %v; want both positive", res.RPS(), res.Latency.Quantile(0.99))
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n > workers {
		t.Errorf("%d connections opened for %d workers: keep-alive is not working", n, workers)
	}
}

func TestRunRequestError(t *testing.T) {
	t.Parallel()
	_, err := loadgen.Run(context.Background(), loadgen.Options{
		Client: loadgen.NewClient(1), Duration: time.Second,
		Request: func(int, int64) (*http.Request, error) { return nil, context.DeadlineExceeded },
	})
	if err == nil {
		t.Fatal("Run returned no error for a failing Request")
	}
	if _, err := loadgen.Run(context.Background(), loadgen.Options{}); err == nil {
		t.Fatal("Run returned no error without options")
	}
}
