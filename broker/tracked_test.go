package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/osbspec"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// slowProv finishes every operation on its second observation.
type slowProv struct {
	mu    sync.Mutex
	polls map[string]int
}

func (p *slowProv) Create(_ context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	return provisioner.Start{Resource: "res/" + inst.ID}, nil
}
func (p *slowProv) Update(context.Context, *provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error) {
	return provisioner.Start{}, nil
}
func (p *slowProv) Delete(context.Context, *provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
	return provisioner.Start{}, nil
}
func (p *slowProv) Observe(_ context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls[req.Operation.ID]++
	if p.polls[req.Operation.ID] < 2 {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}
	return provisioner.Observation{State: provisioner.Succeeded, Outputs: map[string]string{"QueueURL": "https://q"}}, nil
}

// TestTrackedConformance runs the conformance suite against a broker whose
// instances are run by a provisioner.Tracker.
func TestTrackedConformance(t *testing.T) {
	schema := catalog.Schema{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"properties": map[string]any{"size": map[string]any{"type": "integer"}, "password": map[string]any{"type": "string", "writeOnly": true}}}
	schemas := &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
		Create: &catalog.InputParameters{Parameters: schema}, Update: &catalog.InputParameters{Parameters: schema}}}
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "svc-sqs", Name: "sqs", Description: "Queues", InstancesRetrievable: true, PlanUpdateable: true,
		Plans: []catalog.Plan{
			{ID: "plan-standard", Name: "standard", Description: "Standard", Schemas: schemas, MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"}},
			{ID: "plan-fifo", Name: "fifo", Description: "FIFO", Schemas: schemas, MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := provisioner.New(provisioner.Options{Store: store.NewMemory(), Provisioner: &slowProv{polls: map[string]int{}},
		Catalog: idx, PollInterval: 20 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	async := broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision
	h, err := broker.New(idx, &broker.Tracked{Tracker: tr}, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: testUser, Password: testPass}),
		RequireAsync:  async,
	})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Run(t, h, brokertest.Config{
		Username: testUser, Password: testPass, Async: true, RequireAsync: async,
		ServiceID: "svc-sqs", PlanID: "plan-standard", UpdatePlanID: "plan-fifo",
		ProvisionParameters: map[string]any{"size": 1, "password": "hunter2"},
		UpdateParameters:    map[string]any{"size": 2},
		PollOptions:         brokertest.PollOptions{Interval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Timeout: 10 * time.Second},
		Check:               osbspec.Check(t),
	})
}
