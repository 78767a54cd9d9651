// Command memorybroker is a complete OSB v2.17 broker built from
// brokerkit's public API, with the in-memory reference backend of
// package brokertest in place of AWS. It serves the walkthrough's catalog
// (the dh-sqs service and its standard plan).
//
// With -demo it starts itself on a loopback port and plays the platform's
// part of the walkthrough against itself through the brokertest client:
// catalog, provision, poll, bind, fetch the binding, unbind, deprovision.
//
//	go run ./examples/memorybroker -demo
//	BROKER_PASSWORD=… go run ./examples/memorybroker -listen 127.0.0.1:8080
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// The walkthrough's IDs: fixed, so they never change between restarts.
const (
	sqsServiceID = "6e4b4a4b-8d1a-4b0e-9b77-1e4c2f5b0a01"
	standardPlan = "6e4b4a4b-8d1a-4b0e-9b77-1e4c2f5b0a11"
	fifoPlan     = "6e4b4a4b-8d1a-4b0e-9b77-1e4c2f5b0a12"
)

func walkthroughCatalog() catalog.Catalog {
	params := catalog.Schema{
		"$schema": "http://json-schema.org/draft-06/schema#",
		"type":    "object",
		"properties": map[string]any{
			"MessageRetentionPeriod": map[string]any{"type": "integer", "minimum": 60, "maximum": 1209600, "default": 345600},
			"VisibilityTimeout":      map[string]any{"type": "integer", "minimum": 0, "maximum": 43200, "default": 30},
		},
	}
	schemas := &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
		Create: &catalog.InputParameters{Parameters: params},
		Update: &catalog.InputParameters{Parameters: params},
	}}
	return catalog.Catalog{Services: []catalog.Service{{
		ID: sqsServiceID, Name: "dh-sqs", Description: "Amazon Simple Queue Service (SQS)",
		Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true, PlanUpdateable: false,
		Tags:     []string{"AWS", "SQS", "queue"},
		Metadata: map[string]any{"displayName": "Amazon SQS", "providerDisplayName": "Amazon Web Services"},
		Plans: []catalog.Plan{
			{ID: standardPlan, Name: "standard", Description: "An SQS standard queue", Schemas: schemas,
				MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"}, MaximumPollingDuration: 3600},
			{ID: fifoPlan, Name: "fifo", Description: "An SQS FIFO queue", Schemas: schemas,
				MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"}, MaximumPollingDuration: 3600},
		},
	}}}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	demo := flag.Bool("demo", false, "serve on a free loopback port and run the walkthrough against it, then exit")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*listen, *demo, log, os.Stdout); err != nil {
		log.Error("memorybroker", "error", err)
		os.Exit(1)
	}
}

func run(listen string, demo bool, log *slog.Logger, out io.Writer) error {
	user, pass := os.Getenv("BROKER_USERNAME"), os.Getenv("BROKER_PASSWORD")
	if user == "" {
		user = "platform"
	}
	if pass == "" {
		pass = randomPassword()
		if !demo {
			log.Info("BROKER_PASSWORD is not set; generated one for this run", "username", user, "password", pass)
		}
	}
	idx, err := catalog.NewIndex(walkthroughCatalog())
	if err != nil {
		return err
	}
	backend := brokertest.NewMemory(idx, brokertest.MemoryOptions{Async: true, PollsToComplete: 2, RetryAfter: time.Second})
	h, err := broker.New(idx, backend, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: user, Password: pass}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	if demo {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if demo {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return walkthrough(ctx, "http://"+ln.Addr().String(), user, pass, out)
	}
	log.Info("serving the OSB API v2.17", "address", "http://"+ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// walkthrough is the platform's side of the seed walkthrough, steps 5 to 8.
func walkthrough(ctx context.Context, url, user, pass string, out io.Writer) error {
	c := brokertest.NewClient(url, brokertest.ClientOptions{Username: user, Password: pass})
	step := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	poll := brokertest.PollOptions{Interval: 100 * time.Millisecond, MaxInterval: time.Second}

	cat, err := c.Catalog(ctx)
	if err := expect(cat, err, http.StatusOK); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	for _, s := range cat.Value.Services {
		for _, p := range s.Plans {
			step("catalog: class %s, plan %s (%s)", s.Name, p.Name, p.Description)
		}
	}

	instance, binding := "opensource-blog-sqs-demo", "os-blog-sqs-binding"
	prov, err := c.Provision(ctx, brokertest.ProvisionRequest{
		InstanceID: instance, ServiceID: sqsServiceID, PlanID: standardPlan,
		OrganizationGUID: "demo-org", SpaceGUID: "demo-space", AcceptsIncomplete: true,
		Context:    map[string]any{"platform": "kubernetes", "namespace": "default", "instance_name": instance},
		Parameters: broker.Parameters{"VisibilityTimeout": 60},
	})
	if err := expect(prov, err, http.StatusAccepted); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	step("provision %s: %d Accepted, operation %q", instance, prov.StatusCode, prov.Value.Operation)
	lo, err := c.PollLastOperation(ctx, instance, prov.Value.Operation, poll)
	if err != nil || lo.State != broker.Succeeded {
		return fmt.Errorf("provision did not succeed: %v %v", lo.State, err)
	}
	step("last_operation: %s", lo.State)

	bind, err := c.Bind(ctx, brokertest.BindRequest{InstanceID: instance, BindingID: binding,
		ServiceID: sqsServiceID, PlanID: standardPlan, AcceptsIncomplete: true,
		BindResource: map[string]any{"app_guid": "sqs-demo-app-pod"}})
	if err := expect(bind, err, http.StatusAccepted, http.StatusCreated); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	step("bind %s: %d", binding, bind.StatusCode)
	if bind.StatusCode == http.StatusAccepted {
		if lo, err := c.PollBindingLastOperation(ctx, instance, binding, bind.Value.Operation, poll); err != nil || lo.State != broker.Succeeded {
			return fmt.Errorf("bind did not succeed: %v %v", lo.State, err)
		}
	}
	got, err := c.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: instance, BindingID: binding, ServiceID: sqsServiceID, PlanID: standardPlan})
	if err := expect(got, err, http.StatusOK); err != nil {
		return fmt.Errorf("fetch binding: %w", err)
	}
	keys := make([]string, 0, len(got.Value.Credentials))
	for k := range got.Value.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	step("binding credentials (the Secret's keys): %v", keys)

	unbind, err := c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: instance, BindingID: binding, ServiceID: sqsServiceID, PlanID: standardPlan, AcceptsIncomplete: true})
	if err := expect(unbind, err, http.StatusOK, http.StatusAccepted); err != nil {
		return fmt.Errorf("unbind: %w", err)
	}
	if unbind.StatusCode == http.StatusAccepted {
		if _, err := c.PollBindingLastOperation(ctx, instance, binding, unbind.Value.Operation, poll); err != nil && !errors.Is(err, brokertest.ErrGone) {
			return fmt.Errorf("unbind: %w", err)
		}
	}
	step("unbind %s: done", binding)

	dep, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: instance, ServiceID: sqsServiceID, PlanID: standardPlan, AcceptsIncomplete: true})
	if err := expect(dep, err, http.StatusAccepted, http.StatusOK); err != nil {
		return fmt.Errorf("deprovision: %w", err)
	}
	if dep.StatusCode == http.StatusAccepted {
		lo, err := c.PollLastOperation(ctx, instance, dep.Value.Operation, poll)
		if err != nil && !errors.Is(err, brokertest.ErrGone) {
			return fmt.Errorf("deprovision: %w", err)
		}
		step("deprovision %s: %s", instance, lo.State)
	}
	again, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: instance, ServiceID: sqsServiceID, PlanID: standardPlan, AcceptsIncomplete: true})
	if err := expect(again, err, http.StatusGone); err != nil {
		return fmt.Errorf("second deprovision: %w", err)
	}
	step("deprovision again: %d Gone", again.StatusCode)
	return nil
}

func expect[T any](resp *brokertest.Response[T], err error, want ...int) error {
	if err != nil {
		return err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	return fmt.Errorf("status %d, want %v: %s", resp.StatusCode, want, resp.Body)
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
