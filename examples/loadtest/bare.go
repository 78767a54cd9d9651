package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// answer is one response of the broker, captured to be served again by
// the bare server.
type answer struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// answers are the broker's responses that the bare server repeats.
type answers struct {
	Catalog       answer `json:"catalog"`
	Provision     answer `json:"provision"`
	LastOperation answer `json:"last_operation"`
}

// capture reads resp into an answer. The headers that net/http writes
// itself (Date, and the framing: Content-Length or chunked) are left out:
// the bare server's net/http writes them as the broker's did, since both
// set the same headers and write the body with one Write.
func capture(resp *http.Response) (answer, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	h := resp.Header.Clone()
	for _, k := range []string{"Date", "Content-Length", "Transfer-Encoding"} {
		h.Del(k)
	}
	return answer{Status: resp.StatusCode, Header: h, Body: body}, nil
}

// write sends a as the broker did: headers, status, the body in one Write.
func (a *answer) write(w http.ResponseWriter) {
	hdr := w.Header()
	for k, v := range a.Header {
		hdr[k] = v
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// bareHandler answers the three paths of the load test with the captured
// answers, and does nothing else: no authentication, no version check, no
// store. It reads a provision's body, as any handler of a PUT would.
func bareHandler(a *answers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case r.Method == http.MethodGet && p == "/v2/catalog":
			a.Catalog.write(w)
		case r.Method == http.MethodGet && strings.HasPrefix(p, "/v2/service_instances/") && strings.HasSuffix(p, "/last_operation"):
			a.LastOperation.write(w)
		case r.Method == http.MethodPut && strings.HasPrefix(p, "/v2/service_instances/"):
			_, _ = io.Copy(io.Discard, r.Body)
			a.Provision.write(w)
		default:
			http.NotFound(w, r)
		}
	})
}

// runBare is the bare server process (-bare): it serves the answers in
// the file at path on listen until ctx ends, with the example broker's
// http.Server limits, and logs "serving url=..." as the broker does.
func runBare(ctx context.Context, listen, path string, stderr io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var a answers
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// The same limits as examples/awsbroker's server, whose deadlines
	// cost the same per request.
	srv := &http.Server{
		Handler:           bareHandler(&a),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("serving", "url", "http://"+ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
