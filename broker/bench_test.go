package broker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/broker"
)

// discardWriter is the cheapest ResponseWriter, so that in-process
// benchmarks measure the handler, not the recorder.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

func (d *discardWriter) reset() {
	clear(d.header)
	d.status, d.n = 0, 0
}

func platformRequest(method, target, body string) (*http.Request, *strings.Reader) {
	rd := strings.NewReader(body)
	r := httptest.NewRequest(method, target, rd)
	r.SetBasicAuth(testUser, testPass)
	r.Header.Set("X-Broker-API-Version", "2.17")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r, rd
}

// serveLoop runs h on r b.N times, rewinding the body each time.
func serveLoop(b *testing.B, h http.Handler, r *http.Request, rd *strings.Reader, body string, want int) {
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		h.ServeHTTP(w, r)
	}
	b.StopTimer()
	if w.status != want {
		b.Fatalf("status %d, want %d", w.status, want)
	}
}

// BenchmarkCatalog compares the catalog path with a bare handler that
// writes the same bytes, in process (no network): the difference is the
// handler's whole cost (authentication, version check, routing, headers).
func BenchmarkCatalog(b *testing.B) {
	h := newHandler(b, &fakeBackend{})
	body := catalogBytes(b, h)
	bare := bareCatalog(body)
	b.Run("handler=bare", func(b *testing.B) {
		r, rd := platformRequest("GET", "/v2/catalog", "")
		serveLoop(b, bare, r, rd, "", http.StatusOK)
	})
	b.Run("handler=brokerkit", func(b *testing.B) {
		r, rd := platformRequest("GET", "/v2/catalog", "")
		serveLoop(b, h, r, rd, "", http.StatusOK)
	})
}

// BenchmarkCatalogHTTP is BenchmarkCatalog over loopback HTTP with
// keep-alive connections, as a platform sees the broker.
func BenchmarkCatalogHTTP(b *testing.B) {
	h := newHandler(b, &fakeBackend{})
	body := catalogBytes(b, h)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"handler=bare", bareCatalog(body)}, {"handler=brokerkit", h}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", srv.URL+"/v2/catalog", nil)
					req.SetBasicAuth(testUser, testPass)
					req.Header.Set("X-Broker-API-Version", "2.17")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != int64(len(body)) {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}

// BenchmarkProvisionAccepted measures a provision that the backend accepts
// asynchronously: body decoding, catalog and schema checks, the answer.
func BenchmarkProvisionAccepted(b *testing.B) {
	f := &fakeBackend{provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
		return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1"}, nil
	}}
	f.record("warm", nil)
	h := newHandler(b, f)
	body := jsonBody(b, provisionBody(map[string]any{"parameters": map[string]any{"name": "queue", "size": 3}}))
	r, rd := platformRequest("PUT", "/v2/service_instances/"+instanceID+"?accepts_incomplete=true", body)
	serveLoop(b, h, r, rd, body, http.StatusAccepted)
}

// BenchmarkLastOperation measures a last_operation poll answered from the
// backend's memory, with Retry-After.
func BenchmarkLastOperation(b *testing.B) {
	f := &fakeBackend{lastOperation: func(context.Context, *broker.LastOperationRequest) (broker.LastOperation, error) {
		return broker.LastOperation{State: broker.InProgress, Description: "CREATE_IN_PROGRESS", RetryAfter: 5e9}, nil
	}}
	h := newHandler(b, f)
	r, rd := platformRequest("GET", "/v2/service_instances/"+instanceID+"/last_operation?operation=op-1", "")
	serveLoop(b, h, r, rd, "", http.StatusOK)
}

func catalogBytes(b *testing.B, h http.Handler) []byte {
	r, _ := platformRequest("GET", "/v2/catalog", "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("catalog: %d", rec.Code)
	}
	return rec.Body.Bytes()
}

func bareCatalog(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}
