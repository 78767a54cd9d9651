package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

var (
	_ broker.ServiceBroker  = (*Memory)(nil)
	_ broker.Binder         = (*Memory)(nil)
	_ broker.InstanceGetter = (*Memory)(nil)
	_ broker.BindingGetter  = (*Memory)(nil)
)

// MemoryOptions configure a [Memory]. The zero value is a synchronous
// backend that never fails.
type MemoryOptions struct {
	// Async makes provision, update, deprovision, and the bind and unbind
	// of services with bindings_retrievable, asynchronous: they answer
	// Accepted with an operation token and take effect on a later
	// last_operation poll. Such a request without accepts_incomplete=true
	// is refused with [broker.ErrAsyncRequired], as a backend that can
	// only work asynchronously does. When Async is false every operation
	// is Done before the request returns, whatever accepts_incomplete says.
	Async bool
	// PollsToComplete is how many last_operation polls of an
	// asynchronous operation it takes to finish it: the last of them
	// reports "succeeded" (or "failed"), the ones before "in progress".
	// 2 when zero, so that a test sees "in progress" once.
	PollsToComplete int
	// RetryAfter, if positive, is sent with every "in progress" answer.
	RetryAfter time.Duration
	// Fail, if not nil, is called when an operation starts (not for a
	// repeated request that starts nothing). A non-nil error makes the
	// operation fail: an asynchronous one ends "failed" with the error's
	// description (a *[broker.Error]'s Description and InstanceUsable and
	// UpdateRepeatable, or else Error()); a synchronous one is answered
	// with the error if it is a *broker.Error, else with 500 and the
	// error's text as description, and changes nothing. It is called with
	// the Memory's lock held, so it must not call the Memory.
	Fail func(action broker.Action, instanceID string) error
	// DashboardURL, if not nil, gives each instance its dashboard_url.
	DashboardURL func(instanceID string) string
}

// Memory is an in-memory broker backend that implements the OSB API's
// semantics exactly, for tests: [broker.ServiceBroker], [broker.Binder],
// [broker.InstanceGetter] and [broker.BindingGetter]. Its instances are
// entries in a map; nothing is provisioned anywhere.
//
// It follows the idempotency matrix of the conformance checklist: a
// repeated identical request for an operation in progress is Accepted
// with the same operation token, an identical provision or bind after
// success is Existed, the same ID with different attributes is
// [broker.ErrInstanceConflict] or [broker.ErrBindingConflict], and any
// request that would overlap an operation in progress on the same
// instance is [broker.ErrConcurrency] (except a deprovision, which cancels
// a provision in progress, and an unbind, which cancels a bind). Deleted
// instances and bindings stay as tombstones: last_operation keeps
// reporting the delete's result, everything else treats them as absent,
// and their IDs can be used again.
//
// Attributes are compared canonically: service, plan, organization and
// space GUIDs, and parameters by JSON equality (numbers by value; absent
// parameters equal an empty object). Context is not an attribute. For
// bindings, the attributes are the service, plan, app GUID and parameters.
// An update merges the given parameters into the instance's, key by key.
//
// A Memory is safe for concurrent use. Build it with [NewMemory].
type Memory struct {
	idx  *catalog.Index
	opts MemoryOptions

	mu        sync.Mutex
	instances map[string]*memInstance
	lastOp    int
}

// NewMemory returns an empty Memory serving the catalog idx. It copies
// opts.
func NewMemory(idx *catalog.Index, opts MemoryOptions) *Memory {
	if opts.PollsToComplete <= 0 {
		opts.PollsToComplete = 2
	}
	return &Memory{idx: idx, opts: opts, instances: map[string]*memInstance{}}
}

// InstanceIDs returns the IDs of the instances that exist (being
// provisioned, provisioned, failed or being deleted, but not deleted),
// sorted.
func (m *Memory) InstanceIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, inst := range m.instances {
		if inst.phase != phaseGone {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// phase is where an instance or a binding is in its life.
type phase uint8

const (
	phaseCreating phase = iota + 1
	phaseReady
	phaseUpdating // instances only
	phaseDeleting
	phaseFailed // creation failed; waits for a delete
	phaseGone   // a tombstone
)

// memOp is one operation on an instance or a binding.
type memOp struct {
	token     string
	action    broker.Action
	state     broker.State
	pollsLeft int
	fail      error
	// description is reported with a terminal state.
	description                      string
	instanceUsable, updateRepeatable *bool
	// done applies the operation's effect when it ends.
	done func(succeeded bool)
}

type instanceAttrs struct {
	serviceID, planID, orgGUID, spaceGUID string
	params                                broker.Parameters
}

func (a instanceAttrs) equal(b instanceAttrs) bool {
	return a.serviceID == b.serviceID && a.planID == b.planID && a.orgGUID == b.orgGUID &&
		a.spaceGUID == b.spaceGUID && jsonEqual(a.params, b.params)
}

type memInstance struct {
	attrs        instanceAttrs
	context      broker.Context
	maintenance  string // the maintenance_info.version it runs, or ""
	dashboardURL string
	phase        phase
	ops          []*memOp
	// pending and pendingMaintenance are what an update in progress will
	// set.
	pending            instanceAttrs
	pendingMaintenance string
	bindings           map[string]*memBinding
}

type bindingAttrs struct {
	serviceID, planID, appGUID string
	params                     broker.Parameters
}

func (a bindingAttrs) equal(b bindingAttrs) bool {
	return a.serviceID == b.serviceID && a.planID == b.planID && a.appGUID == b.appGUID && jsonEqual(a.params, b.params)
}

type memBinding struct {
	attrs bindingAttrs
	creds broker.Credentials
	phase phase
	ops   []*memOp
}

// current returns the latest operation if it is in progress.
func current(ops []*memOp) *memOp {
	if n := len(ops); n > 0 && ops[n-1].state == broker.InProgress {
		return ops[n-1]
	}
	return nil
}

// find returns the operation with the token, or the latest one for an
// unknown or empty token.
func find(ops []*memOp, token string) *memOp {
	for i := len(ops) - 1; i >= 0 && token != ""; i-- {
		if ops[i].token == token {
			return ops[i]
		}
	}
	if len(ops) == 0 {
		return nil
	}
	return ops[len(ops)-1]
}

// start records a new operation. A synchronous one ends at once, with
// done called; an asynchronous one waits for polls.
func (m *Memory) start(ops *[]*memOp, action broker.Action, async bool, fail error, done func(bool)) *memOp {
	m.lastOp++
	op := &memOp{token: "op-" + strconv.Itoa(m.lastOp), action: action, state: broker.InProgress,
		pollsLeft: m.opts.PollsToComplete, fail: fail, done: done}
	*ops = append(*ops, op)
	if !async {
		op.pollsLeft = 1
		m.advance(op)
	}
	return op
}

// advance counts one poll of an operation in progress and ends it on the
// last.
func (m *Memory) advance(op *memOp) {
	if op.state != broker.InProgress {
		return
	}
	if op.pollsLeft--; op.pollsLeft > 0 {
		return
	}
	if op.fail != nil {
		op.state = broker.Failed
		op.description = op.fail.Error()
		var be *broker.Error
		if errors.As(op.fail, &be) {
			op.description = be.Description
			op.instanceUsable, op.updateRepeatable = be.InstanceUsable, be.UpdateRepeatable
		}
		if op.description == "" {
			op.description = "The operation failed."
		}
	} else {
		op.state = broker.Succeeded
		op.description = doneDescription[op.action]
	}
	op.done(op.state == broker.Succeeded)
}

// cancel ends an operation in progress that a delete overtakes.
func cancel(op *memOp, description string) {
	if op != nil {
		op.state, op.description = broker.Failed, description
	}
}

var (
	progressDescription = map[broker.Action]string{
		broker.ActionProvision:   "Provisioning the service instance.",
		broker.ActionUpdate:      "Updating the service instance.",
		broker.ActionDeprovision: "Deprovisioning the service instance.",
		broker.ActionBind:        "Creating the service binding.",
		broker.ActionUnbind:      "Deleting the service binding.",
	}
	doneDescription = map[broker.Action]string{
		broker.ActionProvision:   "The service instance was provisioned.",
		broker.ActionUpdate:      "The service instance was updated.",
		broker.ActionDeprovision: "The service instance was deprovisioned.",
		broker.ActionBind:        "The service binding was created.",
		broker.ActionUnbind:      "The service binding was deleted.",
	}
)

func (m *Memory) lastOperation(op *memOp) broker.LastOperation {
	m.advance(op)
	if op.state == broker.InProgress {
		return broker.LastOperation{State: op.state, Description: progressDescription[op.action], RetryAfter: m.opts.RetryAfter}
	}
	return broker.LastOperation{State: op.state, Description: op.description,
		InstanceUsable: op.instanceUsable, UpdateRepeatable: op.updateRepeatable}
}

func (m *Memory) fail(a broker.Action, instanceID string) error {
	if m.opts.Fail == nil {
		return nil
	}
	return m.opts.Fail(a, instanceID)
}

// syncFailure is the answer to a synchronous operation that Fail failed.
func syncFailure(err error) error {
	var be *broker.Error
	if errors.As(err, &be) {
		return err
	}
	return &broker.Error{Status: http.StatusInternalServerError, Description: err.Error(), Err: err}
}

// live returns the instance unless it is absent or a tombstone.
func (m *Memory) live(id string) *memInstance {
	if inst := m.instances[id]; inst != nil && inst.phase != phaseGone {
		return inst
	}
	return nil
}

// Provision implements [broker.ServiceBroker].
func (m *Memory) Provision(_ context.Context, req *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
	attrs := instanceAttrs{serviceID: req.Service.ID, planID: req.Plan.ID, orgGUID: req.OrganizationGUID,
		spaceGUID: req.SpaceGUID, params: copyMap(req.Parameters)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst := m.live(req.InstanceID); inst != nil {
		if inst.phase == phaseDeleting || inst.phase == phaseUpdating {
			return broker.ProvisionResponse{}, broker.ErrConcurrency
		}
		if !inst.attrs.equal(attrs) {
			return broker.ProvisionResponse{}, broker.ErrInstanceConflict
		}
		switch inst.phase {
		case phaseCreating:
			if !req.AcceptsIncomplete {
				return broker.ProvisionResponse{}, broker.ErrAsyncRequired
			}
			return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: current(inst.ops).token,
				DashboardURL: inst.dashboardURL}, nil
		case phaseReady:
			return broker.ProvisionResponse{Outcome: broker.Existed, DashboardURL: inst.dashboardURL}, nil
		}
		// A failed provision waits for the platform's delete.
		return broker.ProvisionResponse{}, broker.ErrInstanceConflict
	}
	if m.opts.Async && !req.AcceptsIncomplete {
		return broker.ProvisionResponse{}, broker.ErrAsyncRequired
	}
	failErr := m.fail(broker.ActionProvision, req.InstanceID)
	if failErr != nil && !m.opts.Async {
		return broker.ProvisionResponse{}, syncFailure(failErr)
	}
	inst := &memInstance{attrs: attrs, context: copyMap(req.Context), phase: phaseCreating,
		bindings: map[string]*memBinding{}}
	if mi := req.Plan.MaintenanceInfo; mi != nil {
		inst.maintenance = mi.Version
	}
	if m.opts.DashboardURL != nil {
		inst.dashboardURL = m.opts.DashboardURL(req.InstanceID)
	}
	m.instances[req.InstanceID] = inst // replaces a tombstone
	op := m.start(&inst.ops, broker.ActionProvision, m.opts.Async, failErr, func(ok bool) {
		inst.phase = phaseFailed
		if ok {
			inst.phase = phaseReady
		}
	})
	if m.opts.Async {
		return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: op.token, DashboardURL: inst.dashboardURL}, nil
	}
	return broker.ProvisionResponse{Outcome: broker.Done, DashboardURL: inst.dashboardURL}, nil
}

// Update implements [broker.ServiceBroker].
func (m *Memory) Update(_ context.Context, req *broker.UpdateRequest) (broker.UpdateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil {
		return broker.UpdateResponse{}, broker.ErrInstanceNotFound
	}
	if req.Service.ID != inst.attrs.serviceID {
		return broker.UpdateResponse{}, broker.NewError(http.StatusBadRequest, "",
			"The service_id is not the Service Offering of this Service Instance.")
	}
	target := inst.attrs
	if req.Plan != nil {
		target.planID = req.Plan.ID
	}
	if req.Parameters != nil {
		target.params = mergeParams(inst.attrs.params, req.Parameters)
	}
	_, targetPlan, ok := m.idx.Plan(target.planID)
	if !ok {
		return broker.UpdateResponse{}, broker.NewError(http.StatusBadRequest, "", "Unknown plan_id.")
	}
	maintenance := inst.maintenance
	if target.planID != inst.attrs.planID {
		maintenance = ""
		if targetPlan.MaintenanceInfo != nil {
			maintenance = targetPlan.MaintenanceInfo.Version
		}
	}
	if mi := req.MaintenanceInfo; mi != nil && mi.Version != "" {
		if targetPlan.MaintenanceInfo == nil || targetPlan.MaintenanceInfo.Version != mi.Version {
			return broker.UpdateResponse{}, broker.ErrMaintenanceInfoConflict
		}
		maintenance = mi.Version
	}

	switch inst.phase {
	case phaseUpdating:
		if op := current(inst.ops); target.equal(inst.pending) && maintenance == inst.pendingMaintenance {
			if !req.AcceptsIncomplete {
				return broker.UpdateResponse{}, broker.ErrAsyncRequired
			}
			return broker.UpdateResponse{Outcome: broker.Accepted, Operation: op.token, DashboardURL: inst.dashboardURL}, nil
		}
		return broker.UpdateResponse{}, broker.ErrConcurrency
	case phaseCreating, phaseDeleting:
		return broker.UpdateResponse{}, broker.ErrConcurrency
	case phaseFailed:
		return broker.UpdateResponse{}, &broker.Error{Status: http.StatusUnprocessableEntity,
			Description: "The Service Instance failed to provision and cannot be updated; delete it.", UpdateRepeatable: broker.Bool(false)}
	}
	for _, b := range inst.bindings {
		if current(b.ops) != nil {
			return broker.UpdateResponse{}, broker.ErrConcurrency
		}
	}
	if target.planID != inst.attrs.planID {
		svc, cur, ok := m.idx.Plan(inst.attrs.planID)
		if ok && !svc.IsPlanUpdateable(cur) {
			return broker.UpdateResponse{}, &broker.Error{Status: http.StatusUnprocessableEntity,
				Description:      "The plan of this Service Instance cannot be changed: its plan is not plan_updateable.",
				UpdateRepeatable: broker.Bool(false)}
		}
	}
	if target.equal(inst.attrs) && maintenance == inst.maintenance {
		if req.Context != nil {
			inst.context = copyMap(req.Context)
		}
		return broker.UpdateResponse{Outcome: broker.Existed, DashboardURL: inst.dashboardURL}, nil
	}
	if m.opts.Async && !req.AcceptsIncomplete {
		return broker.UpdateResponse{}, broker.ErrAsyncRequired
	}
	failErr := m.fail(broker.ActionUpdate, req.InstanceID)
	if failErr != nil && !m.opts.Async {
		return broker.UpdateResponse{}, syncFailure(failErr)
	}
	if req.Context != nil {
		inst.context = copyMap(req.Context)
	}
	inst.phase, inst.pending, inst.pendingMaintenance = phaseUpdating, target, maintenance
	op := m.start(&inst.ops, broker.ActionUpdate, m.opts.Async, failErr, func(ok bool) {
		inst.phase = phaseReady
		if ok {
			inst.attrs, inst.maintenance = inst.pending, inst.pendingMaintenance
		}
		inst.pending, inst.pendingMaintenance = instanceAttrs{}, ""
	})
	if m.opts.Async {
		return broker.UpdateResponse{Outcome: broker.Accepted, Operation: op.token, DashboardURL: inst.dashboardURL}, nil
	}
	return broker.UpdateResponse{Outcome: broker.Done, DashboardURL: inst.dashboardURL}, nil
}

// Deprovision implements [broker.ServiceBroker]. It deletes the
// instance's bindings too, and cancels a provision or bind in progress.
func (m *Memory) Deprovision(_ context.Context, req *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil {
		return broker.DeprovisionResponse{}, broker.ErrInstanceNotFound
	}
	switch inst.phase {
	case phaseDeleting:
		if !req.AcceptsIncomplete {
			return broker.DeprovisionResponse{}, broker.ErrAsyncRequired
		}
		return broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: current(inst.ops).token}, nil
	case phaseUpdating:
		return broker.DeprovisionResponse{}, broker.ErrConcurrency
	}
	if m.opts.Async && !req.AcceptsIncomplete {
		return broker.DeprovisionResponse{}, broker.ErrAsyncRequired
	}
	failErr := m.fail(broker.ActionDeprovision, req.InstanceID)
	if failErr != nil && !m.opts.Async {
		return broker.DeprovisionResponse{}, syncFailure(failErr)
	}
	before := inst.phase
	if before == phaseCreating {
		cancel(current(inst.ops), "Provisioning was canceled by a deprovision.")
		before = phaseFailed
	}
	inst.phase = phaseDeleting
	op := m.start(&inst.ops, broker.ActionDeprovision, m.opts.Async, failErr, func(ok bool) {
		if !ok {
			inst.phase = before
			return
		}
		inst.phase = phaseGone
		for _, b := range inst.bindings {
			cancel(current(b.ops), "The service instance was deprovisioned.")
			b.phase, b.creds = phaseGone, nil
		}
	})
	if m.opts.Async {
		return broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: op.token}, nil
	}
	return broker.DeprovisionResponse{Outcome: broker.Done}, nil
}

// LastOperation implements [broker.ServiceBroker]. An unknown or empty
// token means the instance's latest operation; polling an operation in
// progress advances it.
func (m *Memory) LastOperation(_ context.Context, req *broker.LastOperationRequest) (broker.LastOperation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.instances[req.InstanceID]
	if inst == nil {
		return broker.LastOperation{}, broker.ErrInstanceNotFound
	}
	op := find(inst.ops, req.Operation)
	if op == nil {
		return broker.LastOperation{}, broker.ErrInstanceNotFound
	}
	return m.lastOperation(op), nil
}

// GetInstance implements [broker.InstanceGetter]: not found while being
// provisioned or after a failed provision, ErrConcurrency while being
// updated or deleted.
func (m *Memory) GetInstance(_ context.Context, req *broker.GetInstanceRequest) (broker.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil || inst.phase == phaseCreating || inst.phase == phaseFailed {
		return broker.Instance{}, broker.ErrInstanceNotFound
	}
	if inst.phase != phaseReady {
		return broker.Instance{}, broker.ErrConcurrency
	}
	out := broker.Instance{ServiceID: inst.attrs.serviceID, PlanID: inst.attrs.planID,
		DashboardURL: inst.dashboardURL, Parameters: copyMap(inst.attrs.params)}
	if inst.maintenance != "" {
		out.MaintenanceInfo = &catalog.MaintenanceInfo{Version: inst.maintenance}
	}
	return out, nil
}

// asyncBindings reports whether binds of serviceID are asynchronous: only
// with Async and for a service whose bindings can be fetched, since that
// is the only way to deliver their credentials.
func (m *Memory) asyncBindings(serviceID string) bool {
	s, ok := m.idx.Service(serviceID)
	return m.opts.Async && ok && s.BindingsRetrievable
}

// Bind implements [broker.Binder]. Each binding gets its own random
// username and password.
func (m *Memory) Bind(_ context.Context, req *broker.BindRequest) (broker.BindResponse, error) {
	attrs := bindingAttrs{serviceID: req.Service.ID, planID: req.Plan.ID, appGUID: req.AppGUID, params: copyMap(req.Parameters)}
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil {
		return broker.BindResponse{}, broker.ErrInstanceNotFound
	}
	if inst.phase != phaseReady {
		return broker.BindResponse{}, broker.ErrConcurrency
	}
	if attrs.serviceID != inst.attrs.serviceID || attrs.planID != inst.attrs.planID {
		return broker.BindResponse{}, broker.NewError(http.StatusBadRequest, "",
			"The service_id and plan_id must be those of the Service Instance.")
	}
	if b := inst.bindings[req.BindingID]; b != nil && b.phase != phaseGone {
		if b.phase == phaseDeleting {
			return broker.BindResponse{}, broker.ErrConcurrency
		}
		if !b.attrs.equal(attrs) {
			return broker.BindResponse{}, broker.ErrBindingConflict
		}
		switch b.phase {
		case phaseCreating:
			if !req.AcceptsIncomplete {
				return broker.BindResponse{}, broker.ErrAsyncRequired
			}
			return broker.BindResponse{Outcome: broker.Accepted, Operation: current(b.ops).token}, nil
		case phaseReady:
			return broker.BindResponse{Outcome: broker.Existed, Binding: broker.Binding{Credentials: copyMap(b.creds)}}, nil
		}
		return broker.BindResponse{}, broker.ErrBindingConflict
	}
	if p := req.PredecessorBindingID; p != "" {
		if pb := inst.bindings[p]; pb == nil || pb.phase != phaseReady {
			return broker.BindResponse{}, broker.NewError(http.StatusBadRequest, "",
				"The predecessor_binding_id names no existing binding of this Service Instance.")
		}
	}
	async := m.asyncBindings(attrs.serviceID)
	if async && !req.AcceptsIncomplete {
		return broker.BindResponse{}, broker.ErrAsyncRequired
	}
	failErr := m.fail(broker.ActionBind, req.InstanceID)
	if failErr != nil && !async {
		return broker.BindResponse{}, syncFailure(failErr)
	}
	b := &memBinding{attrs: attrs, phase: phaseCreating, creds: broker.Credentials{
		"username": "u-" + randomHex(6),
		"password": randomHex(16),
	}}
	if old := inst.bindings[req.BindingID]; old != nil {
		b.ops = old.ops // a tombstone's history stays pollable
	}
	inst.bindings[req.BindingID] = b
	op := m.start(&b.ops, broker.ActionBind, async, failErr, func(ok bool) {
		b.phase = phaseFailed
		if ok {
			b.phase = phaseReady
		}
	})
	if async {
		return broker.BindResponse{Outcome: broker.Accepted, Operation: op.token}, nil
	}
	return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{Credentials: copyMap(b.creds)}}, nil
}

// Unbind implements [broker.Binder]. It cancels a bind in progress.
func (m *Memory) Unbind(_ context.Context, req *broker.UnbindRequest) (broker.UnbindResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil {
		return broker.UnbindResponse{}, broker.ErrBindingNotFound
	}
	b := inst.bindings[req.BindingID]
	if b == nil || b.phase == phaseGone {
		return broker.UnbindResponse{}, broker.ErrBindingNotFound
	}
	async := m.asyncBindings(b.attrs.serviceID)
	if b.phase == phaseDeleting {
		if !req.AcceptsIncomplete {
			return broker.UnbindResponse{}, broker.ErrAsyncRequired
		}
		return broker.UnbindResponse{Outcome: broker.Accepted, Operation: current(b.ops).token}, nil
	}
	if async && !req.AcceptsIncomplete {
		return broker.UnbindResponse{}, broker.ErrAsyncRequired
	}
	failErr := m.fail(broker.ActionUnbind, req.InstanceID)
	if failErr != nil && !async {
		return broker.UnbindResponse{}, syncFailure(failErr)
	}
	before := b.phase
	if before == phaseCreating {
		cancel(current(b.ops), "Creating the binding was canceled by an unbind.")
		before = phaseFailed
	}
	b.phase = phaseDeleting
	op := m.start(&b.ops, broker.ActionUnbind, async, failErr, func(ok bool) {
		if !ok {
			b.phase = before
			return
		}
		b.phase, b.creds = phaseGone, nil
	})
	if async {
		return broker.UnbindResponse{Outcome: broker.Accepted, Operation: op.token}, nil
	}
	return broker.UnbindResponse{Outcome: broker.Done}, nil
}

// GetBinding implements [broker.BindingGetter]: not found while being
// created or after a failed bind, ErrConcurrency while being deleted.
func (m *Memory) GetBinding(_ context.Context, req *broker.GetBindingRequest) (broker.Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.live(req.InstanceID)
	if inst == nil {
		return broker.Binding{}, broker.ErrBindingNotFound
	}
	b := inst.bindings[req.BindingID]
	if b == nil || b.phase != phaseReady && b.phase != phaseDeleting {
		return broker.Binding{}, broker.ErrBindingNotFound
	}
	if b.phase == phaseDeleting {
		return broker.Binding{}, broker.ErrConcurrency
	}
	return broker.Binding{Credentials: copyMap(b.creds), Parameters: copyMap(b.attrs.params)}, nil
}

// BindingLastOperation implements [broker.Binder], like LastOperation.
func (m *Memory) BindingLastOperation(_ context.Context, req *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.instances[req.InstanceID]
	if inst == nil {
		return broker.LastOperation{}, broker.ErrBindingNotFound
	}
	b := inst.bindings[req.BindingID]
	if b == nil {
		return broker.LastOperation{}, broker.ErrBindingNotFound
	}
	op := find(b.ops, req.Operation)
	if op == nil {
		return broker.LastOperation{}, broker.ErrBindingNotFound
	}
	lo := m.lastOperation(op)
	lo.InstanceUsable, lo.UpdateRepeatable = nil, nil
	return lo, nil
}

// --- values ---

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// mergeParams returns cur with the keys of update set to update's values.
func mergeParams(cur, update broker.Parameters) broker.Parameters {
	out := make(broker.Parameters, len(cur)+len(update))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range update {
		out[k] = copyValue(v)
	}
	return out
}

// copyMap deep-copies a JSON object, so that no caller shares the
// Memory's values.
func copyMap[M ~map[string]any](m M) M {
	if m == nil {
		return nil
	}
	out := make(M, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = copyValue(v[i])
		}
		return out
	}
	return v
}

// jsonEqual compares two JSON objects by value: key order does not
// matter, numbers compare by value (1, 1.0 and 1e0 are equal), and nil
// equals empty.
func jsonEqual[M ~map[string]any](a, b M) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return reflect.DeepEqual(canonical(map[string]any(a)), canonical(map[string]any(b)))
}

// number is a canonical JSON number: an exact rational.
type number string

func canonical(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canonical(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = canonical(x)
		}
		return out
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(v)); ok {
			return number(r.RatString())
		}
		return number(v)
	case float64:
		if r := new(big.Rat).SetFloat64(v); r != nil {
			return number(r.RatString())
		}
	case float32:
		return canonical(float64(v))
	case int:
		return number(strconv.Itoa(v))
	case int64:
		return number(strconv.FormatInt(v, 10))
	}
	return v
}
