package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// healthPath is the one path of the -health-listen listener.
const healthPath = "/healthz"

// healthServer answers GET /healthz with 200 "ok" on a listener of its
// own, without authentication, so that Kubernetes probes need no
// credentials. It says nothing about the broker (no version, no
// configuration, no AWS state): it is up exactly while the broker
// serves, since it starts after everything the broker needs is open and
// stops first at shutdown.
type healthServer struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	done chan struct{}
}

// listenHealth listens on addr.
func listenHealth(addr string, log *slog.Logger) (*healthServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOf("health-listen"), err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+healthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	return &healthServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       5 * time.Second,
			WriteTimeout:      5 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    8 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		log:  log,
		done: make(chan struct{}),
	}, nil
}

// serve serves until close.
func (h *healthServer) serve() {
	defer close(h.done)
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.log.Warn("serving health checks failed", "error", err)
	}
}

// close stops answering at once (a probe during shutdown fails) and
// waits for serve, which must have been started, to return.
func (h *healthServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		_ = h.srv.Close()
	}
	_ = h.ln.Close() // in case Serve had not taken it yet
	<-h.done
}
