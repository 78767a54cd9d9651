package broker

import (
	"context"
	"errors"
	"net/http"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// Tracked is a [ServiceBroker] and [InstanceGetter] whose instances are run
// by a [provisioner.Tracker]: every operation is recorded before the
// backend is called and answered asynchronously, and last_operation is
// answered from the Tracker's store, never with a backend call. A broker
// whose catalog has bindable plans embeds Tracked in a type that adds the
// [Binder] methods.
//
// Every instance operation is asynchronous: serve Tracked with
// Options.RequireAsync including ActionProvision, ActionUpdate and
// ActionDeprovision (Tracked itself answers ErrAsyncRequired otherwise).
type Tracked struct {
	Tracker *provisioner.Tracker
	// Target chooses the account, role and region a new instance's
	// resources go to, and returns the parameters left for the
	// provisioner (without those it consumed). The Tracker remembers the
	// Target, so update, deprovision and the instance's bindings use it
	// too. Nil provisions everything with the broker's own identity.
	//
	// A *credentials.ValidationError (credentials.FromParameters returns
	// one for a bad target_account_id) answers 400 with its text, which
	// never holds the external ID.
	Target func(ctx context.Context, req *ProvisionRequest) (credentials.Target, Parameters, error)
}

var (
	_ ServiceBroker  = (*Tracked)(nil)
	_ InstanceGetter = (*Tracked)(nil)
)

// Provision starts, joins or confirms a provision.
func (b *Tracked) Provision(ctx context.Context, req *ProvisionRequest) (ProvisionResponse, error) {
	if !req.AcceptsIncomplete {
		return ProvisionResponse{}, ErrAsyncRequired
	}
	var target credentials.Target
	params := req.Parameters
	if b.Target != nil {
		var err error
		if target, params, err = b.Target(ctx, req); err != nil {
			if errors.Is(err, credentials.ErrInvalidTarget) {
				return ProvisionResponse{}, NewError(http.StatusBadRequest, "", err.Error())
			}
			return ProvisionResponse{}, err
		}
	}
	res, err := b.Tracker.Provision(ctx, provisioner.ProvisionRequest{
		InstanceID: req.InstanceID, ServiceID: req.Service.ID, PlanID: req.Plan.ID,
		OrganizationGUID: req.OrganizationGUID, SpaceGUID: req.SpaceGUID,
		Parameters: params, Context: req.Context, Target: target,
	})
	if err != nil {
		return ProvisionResponse{}, trackerError(err, http.StatusConflict)
	}
	if res.Outcome == provisioner.Unchanged {
		return ProvisionResponse{Outcome: Existed}, nil
	}
	return ProvisionResponse{Outcome: Accepted, Operation: res.Operation.ID}, nil
}

// Update starts or joins an update; a change of context alone is done at
// once.
func (b *Tracked) Update(ctx context.Context, req *UpdateRequest) (UpdateResponse, error) {
	if !req.AcceptsIncomplete {
		return UpdateResponse{}, ErrAsyncRequired
	}
	ch := provisioner.UpdateRequest{InstanceID: req.InstanceID, Context: req.Context,
		Change: provisioner.Change{Parameters: req.Parameters}}
	if req.Plan != nil {
		ch.PlanID = req.Plan.ID
	}
	if req.MaintenanceInfo != nil && (req.PreviousValues.MaintenanceInfo == nil ||
		req.PreviousValues.MaintenanceInfo.Version != req.MaintenanceInfo.Version) {
		ch.MaintenanceVersion = req.MaintenanceInfo.Version
	}
	res, err := b.Tracker.Update(ctx, ch)
	if err != nil {
		return UpdateResponse{}, trackerError(err, http.StatusNotFound)
	}
	if res.Outcome == provisioner.Unchanged {
		return UpdateResponse{Outcome: Done}, nil
	}
	return UpdateResponse{Outcome: Accepted, Operation: res.Operation.ID}, nil
}

// Deprovision starts or joins a deprovision; during a provision or update
// it is accepted and waits for that to settle.
func (b *Tracked) Deprovision(ctx context.Context, req *DeprovisionRequest) (DeprovisionResponse, error) {
	if !req.AcceptsIncomplete {
		return DeprovisionResponse{}, ErrAsyncRequired
	}
	res, err := b.Tracker.Deprovision(ctx, req.InstanceID)
	if err != nil {
		return DeprovisionResponse{}, trackerError(err, http.StatusGone)
	}
	return DeprovisionResponse{Outcome: Accepted, Operation: res.Operation.ID}, nil
}

// LastOperation answers from the Tracker's store.
func (b *Tracked) LastOperation(ctx context.Context, req *LastOperationRequest) (LastOperation, error) {
	st, err := b.Tracker.LastOperation(ctx, req.InstanceID, req.Operation)
	if err != nil {
		return LastOperation{}, trackerError(err, http.StatusNotFound)
	}
	op := st.Operation
	return LastOperation{State: State(op.State), Description: op.Description,
		InstanceUsable: op.InstanceUsable, UpdateRepeatable: op.UpdateRepeatable, RetryAfter: st.RetryAfter}, nil
}

// GetInstance returns a provisioned instance; secret parameters are left
// out.
func (b *Tracked) GetInstance(ctx context.Context, req *GetInstanceRequest) (Instance, error) {
	rec, err := b.Tracker.Instance(ctx, req.InstanceID)
	if err != nil {
		return Instance{}, trackerError(err, http.StatusNotFound)
	}
	return Instance{ServiceID: rec.ServiceID, PlanID: rec.PlanID, Parameters: rec.Parameters}, nil
}

// trackerError maps the Tracker's errors to OSB errors; notFound is the
// status for a missing instance on this endpoint (the handler turns 404
// into 410 on deletes by itself, so only the choice between them matters
// here).
func trackerError(err error, notFound int) error {
	if desc, code, repeatable, ok := provisioner.RefusalDetails(err); ok {
		if code == CodeMaintenanceInfoConflict {
			return ErrMaintenanceInfoConflict
		}
		e := &Error{Status: http.StatusUnprocessableEntity, Description: desc, Err: err}
		if !repeatable {
			e.UpdateRepeatable = Bool(false)
		}
		return e
	}
	var te *provisioner.TerminalError
	switch {
	case errors.Is(err, provisioner.ErrNotFound):
		if notFound == http.StatusGone {
			return ErrGone
		}
		return ErrInstanceNotFound
	case errors.Is(err, provisioner.ErrGone):
		return ErrGone
	case errors.Is(err, provisioner.ErrConflict):
		return ErrInstanceConflict
	case errors.Is(err, provisioner.ErrBusy):
		return ErrConcurrency
	case errors.As(err, &te):
		status := http.StatusUnprocessableEntity
		if te.Reason == provisioner.ReasonInvalid {
			status = http.StatusBadRequest
		}
		return &Error{Status: status, Description: te.Err.Error(), Err: err}
	}
	return err
}
