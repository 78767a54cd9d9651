package broker

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// TrackedBindings is a [Binder] and [BindingGetter] whose bindings are
// resources of their own (a CloudFormation stack with an IAM user and a
// policy scoped to the instance's resources, for example), run by a second
// [provisioner.Tracker]. Each binding is a record of that Tracker under
// the key [BindingKey](instanceID, bindingID), so everything the Tracker
// does for instances — the record written before the backend call,
// polling, resuming after a restart, idempotent repeats, tombstones that
// answer last_operation after the delete — holds for bindings unchanged.
// Unbind deletes the binding's resources, which is what revokes access.
//
// A broker embeds *TrackedBindings next to *[Tracked]:
//
//	type backend struct {
//		*broker.Tracked
//		*broker.TrackedBindings
//	}
//
// Every binding operation is asynchronous: serve it with
// Options.RequireAsync including ActionBind and ActionUnbind (Bind and
// Unbind answer ErrAsyncRequired otherwise), and mark the services
// bindings_retrievable, since credentials of an asynchronous bind are
// fetched with GET binding.
//
// A rotation (predecessor_binding_id) is an ordinary new binding: the
// predecessor keeps working until the platform unbinds it.
//
// Methods are safe for concurrent use; the fields must not change once
// the handler serves requests.
type TrackedBindings struct {
	// Instances is the Tracker of the instances; a bind needs its
	// instance provisioned and reads its outputs. Required.
	Instances *provisioner.Tracker
	// Bindings is the Tracker of the bindings. Its Catalog must hold the
	// plans that PlanFor names, and its Provisioner the templates of
	// those plans (for CloudFormation: a second Stacks with the binding
	// templates and another StackPrefix). It needs a Store of its own (a
	// second bolt file, say): a Tracker resumes every operation in
	// progress that its Store holds, so over a shared Store each Tracker
	// would poll the other's operations with the wrong Provisioner.
	// Required.
	Bindings *provisioner.Tracker
	// Credentials builds a binding's credentials from the instance's
	// record and the binding's (both provisioned; their Outputs are the
	// stacks' outputs, and the binding's include its secret outputs,
	// opened: an access key's secret from provisioner/accesskeys). It
	// runs on every fetch and every 200 replay, so it must be repeatable
	// and create nothing: what a bind creates (an access key) belongs to
	// the binding's own resources, created once and revoked at unbind.
	//
	// Nil builds them with package binding as the instance's service
	// says (catalog.Service.Credentials, see binding.OptionsFor): the
	// instance's outputs merged with the binding's, a binding output
	// replacing an instance output of the same name, secret-store
	// references resolved by Resolver, keys mapped and transformed.
	Credentials func(ctx context.Context, instance, binding *provisioner.Record) (Credentials, error)
	// Resolver returns the resolver of secret-store references ("ssm:NAME",
	// Secrets Manager ARNs) in the outputs of an instance whose resources
	// live in target (see binding.Resolver), for the default Credentials.
	// Nil passes such values through as they are.
	Resolver func(ctx context.Context, target credentials.Target) (*binding.Resolver, error)
	// PlanFor names the plan of the Bindings Tracker that runs a bind to
	// an instance of plan of svc; ok false refuses the bind (400). Nil
	// uses the instance's plan ID.
	PlanFor func(svc *catalog.Service, plan *catalog.Plan) (bindingPlanID string, ok bool)
	// Declared names the parameters that the binding plan's template
	// declares. The parameters of a binding are the user's bind
	// parameters plus those instance outputs whose names Declared lists,
	// an output replacing a user parameter of the same name. When the
	// instance lacks such an output, a user value of that name passes
	// through: the binding plan's schema must forbid parameters a user
	// may not set (additionalProperties: false), or a user could point
	// the binding at other resources. Only declared outputs are passed
	// because a backend may refuse undeclared parameters
	// (cloudformation.Stacks does, as an invalid request). Nil passes
	// every output.
	Declared func(bindingPlanID string) []string
}

var (
	_ Binder        = (*TrackedBindings)(nil)
	_ BindingGetter = (*TrackedBindings)(nil)
)

// BindingKey returns the ID under which the binding bindingID of the
// instance instanceID is recorded by a [TrackedBindings]' Tracker:
// instanceID, "/", bindingID, each escaped with [url.PathEscape] so that
// the key is unambiguous even for IDs that hold a "/" (which a platform
// can send percent-encoded). OSB IDs are usually GUIDs, which escaping
// leaves as they are.
func BindingKey(instanceID, bindingID string) string {
	return url.PathEscape(instanceID) + "/" + url.PathEscape(bindingID)
}

// Bind starts, joins or confirms a binding. The instance must be
// provisioned and not busy: otherwise 422 ConcurrencyError, or 404 when
// it does not exist. An identical repeat while the bind runs answers 202
// with the same operation, once it succeeded 200 with the credentials;
// other parameters for an existing binding ID answer 409.
func (b *TrackedBindings) Bind(ctx context.Context, req *BindRequest) (BindResponse, error) {
	if !req.AcceptsIncomplete {
		return BindResponse{}, ErrAsyncRequired
	}
	inst, err := b.instance(ctx, req.InstanceID)
	if err != nil {
		return BindResponse{}, err
	}
	planID := req.Plan.ID
	if b.PlanFor != nil {
		var ok bool
		if planID, ok = b.PlanFor(req.Service, req.Plan); !ok {
			return BindResponse{}, NewError(http.StatusBadRequest, "", "This plan cannot be bound.")
		}
	}
	params, derived := b.parameters(planID, inst.Outputs, req.Parameters)
	res, err := b.Bindings.Provision(ctx, provisioner.ProvisionRequest{
		InstanceID: BindingKey(req.InstanceID, req.BindingID), ServiceID: req.Service.ID, PlanID: planID,
		OrganizationGUID: inst.OrganizationGUID, SpaceGUID: inst.SpaceGUID,
		Parameters: params, Derived: derived, Context: req.Context,
		// The binding's resources live where the instance's do.
		Target: inst.Target,
	})
	if err != nil {
		return BindResponse{}, bindingError(err)
	}
	if res.Outcome != provisioner.Unchanged {
		return BindResponse{Outcome: Accepted, Operation: res.Operation.ID}, nil
	}
	rec, err := b.Bindings.Instance(ctx, BindingKey(req.InstanceID, req.BindingID))
	if err != nil {
		return BindResponse{}, bindingError(err)
	}
	bd, err := b.binding(ctx, inst, rec)
	if err != nil {
		return BindResponse{}, err
	}
	return BindResponse{Outcome: Existed, Binding: bd}, nil
}

// Unbind starts or joins the delete of a binding's resources; during the
// bind it is accepted and waits for the bind to settle. A binding that
// does not exist answers 410.
func (b *TrackedBindings) Unbind(ctx context.Context, req *UnbindRequest) (UnbindResponse, error) {
	if !req.AcceptsIncomplete {
		return UnbindResponse{}, ErrAsyncRequired
	}
	res, err := b.Bindings.Deprovision(ctx, BindingKey(req.InstanceID, req.BindingID))
	if err != nil {
		return UnbindResponse{}, bindingError(err)
	}
	return UnbindResponse{Outcome: Accepted, Operation: res.Operation.ID}, nil
}

// BindingLastOperation answers from the Bindings Tracker's store: 404 for
// a binding it never saw, 410 once the tombstone of an unbind is older
// than the Tracker's Retention.
func (b *TrackedBindings) BindingLastOperation(ctx context.Context, req *BindingLastOperationRequest) (LastOperation, error) {
	st, err := b.Bindings.LastOperation(ctx, BindingKey(req.InstanceID, req.BindingID), req.Operation)
	if err != nil {
		return LastOperation{}, bindingError(err)
	}
	op := st.Operation
	return LastOperation{State: State(op.State), Description: op.Description, RetryAfter: st.RetryAfter}, nil
}

// GetBinding returns the credentials of a binding whose bind succeeded: 404
// while it is being created, after it failed or was deleted; 422
// ConcurrencyError while it is being deleted or its instance is busy (an
// update), since the credentials are built from the instance's outputs
// too. Parameters are not returned: the recorded ones include the
// instance outputs passed to the binding's resources.
func (b *TrackedBindings) GetBinding(ctx context.Context, req *GetBindingRequest) (Binding, error) {
	rec, err := b.Bindings.Instance(ctx, BindingKey(req.InstanceID, req.BindingID))
	if err != nil {
		return Binding{}, bindingError(err)
	}
	inst, err := b.instance(ctx, req.InstanceID)
	if err != nil {
		return Binding{}, err
	}
	return b.binding(ctx, inst, rec)
}

// instance returns the provisioned instance a binding belongs to.
func (b *TrackedBindings) instance(ctx context.Context, instanceID string) (*provisioner.Record, error) {
	rec, err := b.Instances.Instance(ctx, instanceID)
	switch {
	case err == nil:
		return rec, nil
	case errors.Is(err, provisioner.ErrProvisioning), errors.Is(err, provisioner.ErrBusy):
		return nil, ErrConcurrency
	case errors.Is(err, provisioner.ErrNotFound):
		return nil, ErrInstanceNotFound
	}
	return nil, err
}

// parameters returns the binding's parameters: the user's, then the
// declared instance outputs, which win; and the names taken from outputs,
// which a repeated bind does not compare (an update of the instance may
// have changed them).
func (b *TrackedBindings) parameters(planID string, outputs map[string]string, user Parameters) (map[string]any, []string) {
	params := make(map[string]any, len(user)+len(outputs))
	maps.Copy(params, user)
	var derived []string
	take := func(k string) {
		if v, ok := outputs[k]; ok {
			params[k] = v
			derived = append(derived, k)
		}
	}
	if b.Declared == nil {
		for k := range outputs {
			take(k)
		}
		return params, derived
	}
	for _, k := range b.Declared(planID) {
		take(k)
	}
	return params, derived
}

// binding returns the binding of rec to inst: its credentials and, when
// the service sets a credentials Lifetime, its expiry.
func (b *TrackedBindings) binding(ctx context.Context, inst, rec *provisioner.Record) (Binding, error) {
	secrets, err := b.Bindings.SecretOutputs(rec)
	if err != nil {
		return Binding{}, err
	}
	if len(secrets) > 0 {
		rec = rec.Clone()
		rec.Outputs = binding.Merge(rec.Outputs, secrets)
	}
	var spec *catalog.CredentialsSpec
	if svc, ok := b.Instances.Catalog().Service(inst.ServiceID); ok {
		spec = svc.Credentials
	}
	var creds Credentials
	if b.Credentials != nil {
		creds, err = b.Credentials(ctx, inst, rec)
	} else {
		creds, err = b.build(ctx, spec, inst, rec)
	}
	if err != nil {
		return Binding{}, err
	}
	bd := Binding{Credentials: creds}
	if op := rec.Operation; spec != nil && spec.Lifetime > 0 && op.Kind == provisioner.KindProvision && !op.FinishedAt.IsZero() {
		bd.Metadata = &BindingMetadata{ExpiresAt: op.FinishedAt.Add(time.Duration(spec.Lifetime))}
	}
	return bd, nil
}

// build is the default Credentials.
func (b *TrackedBindings) build(ctx context.Context, spec *catalog.CredentialsSpec, inst, rec *provisioner.Record) (Credentials, error) {
	opts, err := binding.OptionsFor(spec)
	if err != nil {
		return nil, err
	}
	if b.Resolver != nil {
		if opts.Resolver, err = b.Resolver(ctx, inst.Target); err != nil {
			return nil, err
		}
	}
	c, err := binding.Build(ctx, binding.Merge(inst.Outputs, rec.Outputs), opts)
	if err != nil {
		return nil, err
	}
	return c.Object(), nil
}

// bindingError maps the Bindings Tracker's errors to OSB errors: a record
// that does not exist is a binding that does not exist, and other
// attributes for an existing one are a binding conflict.
func bindingError(err error) error {
	switch {
	case errors.Is(err, provisioner.ErrNotFound):
		return ErrBindingNotFound
	case errors.Is(err, provisioner.ErrConflict):
		return ErrBindingConflict
	}
	return trackerError(err, http.StatusNotFound)
}
