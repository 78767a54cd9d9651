package main

import (
	"context"
	"errors"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// backend is the broker's backend: instances are CloudFormation stacks
// run by one Tracker (broker.Tracked), and each binding is a stack of the
// service's binding template with an access key, run by a second Tracker
// (broker.TrackedBindings). Every operation is asynchronous.
type backend struct {
	*broker.Tracked
	*broker.TrackedBindings
}

var (
	_ broker.ServiceBroker  = (*backend)(nil)
	_ broker.InstanceGetter = (*backend)(nil)
	_ broker.Binder         = (*backend)(nil)
	_ broker.BindingGetter  = (*backend)(nil)
)

// newBackend assembles the backend: target (nil: the broker's own
// account) chooses an instance's account, and declared names the
// parameters of a plan's binding template, which are filled from the
// instance's outputs.
func newBackend(instances, bindings *provisioner.Tracker,
	target func(context.Context, *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error),
	declared func(planID string) []string) *backend {
	return &backend{
		Tracked: &broker.Tracked{Tracker: instances, Target: target},
		// Credentials: the default, as each service's Credentials block
		// says (as-is: the outputs under their own names).
		TrackedBindings: &broker.TrackedBindings{Instances: instances, Bindings: bindings, Declared: declared},
	}
}

// Bind starts a binding's stack as TrackedBindings does, which checks
// first that the instance is provisioned and idle. A deprovision accepted
// between that check and the binding's record would leave an IAM user
// with rights on the resources of a deleted instance (and, for names
// derived from the instance ID such as a FIFO queue's, on those of a new
// instance with the same ID), so Bind looks again once the binding is
// recorded: if the instance is being or has been deleted, it deletes the
// binding and answers 422 ConcurrencyError.
func (b *backend) Bind(ctx context.Context, req *broker.BindRequest) (broker.BindResponse, error) {
	resp, err := b.TrackedBindings.Bind(ctx, req)
	if err != nil || resp.Outcome != broker.Accepted {
		return resp, err
	}
	st, err := b.Tracker.LastOperation(ctx, req.InstanceID, "")
	switch {
	case err == nil && st.Operation.Kind != provisioner.KindDeprovision:
		return resp, nil
	case err != nil && !errors.Is(err, provisioner.ErrNotFound) && !errors.Is(err, provisioner.ErrGone):
		// Unknown: a 500 makes the platform unbind (orphan mitigation).
		return broker.BindResponse{}, err
	}
	if _, err := b.TrackedBindings.Unbind(ctx, &broker.UnbindRequest{InstanceID: req.InstanceID, BindingID: req.BindingID,
		ServiceID: req.Service.ID, PlanID: req.Plan.ID, Service: req.Service, Plan: req.Plan, AcceptsIncomplete: true}); err != nil {
		return broker.BindResponse{}, err
	}
	return broker.BindResponse{}, broker.ErrConcurrency
}
