package cloudformation

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// Create starts creating inst's stack from the current template of its
// plan, with inst.Parameters converted and filtered as the package
// documentation says, and returns the stack ID.
//
// A stack of that name that is inst's own (its brokerkit:instance-id tag)
// is success with its ID: a create repeated after a crash. If that stack
// is a failed create of an earlier operation (ROLLBACK_COMPLETE,
// ROLLBACK_FAILED), Create deletes it and returns a retryable error
// wrapping [ErrRecreating], so the create is tried again once the name is
// free; while it is being deleted, the same error. Someone else's stack of
// that name is a terminal [ErrNotOwned] (ReasonRefused).
func (s *Stacks) Create(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	c, err := s.client(ctx, inst.Target)
	if err != nil {
		return provisioner.Start{}, err
	}
	name, err := s.StackName(inst)
	if err != nil {
		return provisioner.Start{}, err
	}
	t, err := s.template(ctx, inst.ServiceID, inst.PlanID)
	if err != nil {
		return provisioner.Start{}, err
	}
	params, err := createParameters(t, inst.Parameters)
	if err != nil {
		return provisioner.Start{}, err
	}
	in := &cfn.CreateStackInput{
		StackName:          aws.String(name),
		TemplateBody:       aws.String(t.Body),
		Parameters:         params.params,
		Capabilities:       capabilities(t.Capabilities),
		ClientRequestToken: aws.String(clientRequestToken(op.ID, "")),
		Tags:               s.tags(inst, inst.PlanID, t.ID),
	}
	if s.opts.RoleARN != "" {
		in.RoleARN = aws.String(s.opts.RoleARN)
	}
	if s.opts.TimeoutInMinutes > 0 {
		in.TimeoutInMinutes = aws.Int32(s.opts.TimeoutInMinutes)
	}
	if s.opts.TerminationProtection {
		in.EnableTerminationProtection = aws.Bool(true)
	}
	out, err := c.CreateStack(ctx, in)
	if err == nil {
		id := aws.ToString(out.StackId)
		s.log.InfoContext(ctx, "creating stack", "stack", name, "stack_id", id, "operation", op.ID, "instance_id", inst.ID, "template_id", t.ID)
		return provisioner.Start{Resource: id, Template: t.ID}, nil
	}
	if isAlreadyExists(err) {
		return s.existing(ctx, c, op, inst, name)
	}
	return provisioner.Start{}, s.failed(ctx, op, classify(err, "create stack "+name, params.values))
}

// existing judges the stack named name that a CreateStack for inst found.
func (s *Stacks) existing(ctx context.Context, c API, op *provisioner.Operation, inst *provisioner.Instance, name string) (provisioner.Start, error) {
	st, found, err := s.describe(ctx, c, name)
	if err != nil {
		return provisioner.Start{}, err
	}
	if !found {
		// Deleted between the two calls: try again.
		return provisioner.Start{}, retryable(&StackError{Op: "create", StackName: name, Err: ErrRecreating})
	}
	id := aws.ToString(st.StackId)
	serr := &StackError{Op: "create", StackName: name, StackID: id, Status: string(st.StackStatus)}
	if tagValue(st.Tags, TagInstanceID) != inst.ID {
		serr.Err = ErrNotOwned
		return provisioner.Start{}, s.failed(ctx, op, provisioner.Terminal(provisioner.ReasonRefused, serr))
	}
	switch st.StackStatus {
	case types.StackStatusRollbackComplete, types.StackStatusRollbackFailed:
		if createdBy(st, op) {
			break
		}
		_, err := c.DeleteStack(ctx, &cfn.DeleteStackInput{
			StackName:          st.StackId,
			ClientRequestToken: aws.String(clientRequestToken(op.ID, cleanupTokenPart)),
			RoleARN:            s.roleARN(),
		})
		if err != nil {
			return provisioner.Start{}, classify(err, "delete failed stack "+name+" before re-creating it", nil)
		}
		s.log.InfoContext(ctx, "deleting the failed stack of an earlier create before re-creating it", "stack", name, "stack_id", id, "operation", op.ID, "status", st.StackStatus)
		serr.Err = ErrRecreating
		return provisioner.Start{}, retryable(serr)
	case types.StackStatusDeleteInProgress:
		serr.Err = ErrRecreating
		return provisioner.Start{}, retryable(serr)
	}
	s.log.InfoContext(ctx, "the instance's stack exists already; adopting it", "stack", name, "stack_id", id, "operation", op.ID, "status", st.StackStatus)
	return provisioner.Start{Resource: id, Template: tagValue(st.Tags, TagTemplateID)}, nil
}

// Update starts updating inst's stack as change asks and returns the
// stack ID, or Done when there is nothing to change.
//
// The stack keeps its template (UsePreviousTemplate) unless change names
// another plan or a maintenance version; then it gets that plan's current
// template. Parameters in change.Parameters are set (they must be declared
// by the template the update uses: the stack's own, or the new one); every
// other parameter the stack has keeps its value (UsePreviousValue); a new
// plan's fixed values are set. A stack that does not exist, or whose state
// does not take an update (ROLLBACK_COMPLETE, *_FAILED but UPDATE_FAILED
// and CREATE_FAILED, an operation in progress), is a terminal
// ReasonRefused error wrapping [ErrStackNotFound], [ErrNotUpdatable] or
// [ErrBusy].
func (s *Stacks) Update(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance, change provisioner.Change) (provisioner.Start, error) {
	c, err := s.client(ctx, inst.Target)
	if err != nil {
		return provisioner.Start{}, err
	}
	st, found, err := s.lookup(ctx, c, inst)
	if err != nil {
		return provisioner.Start{}, err
	}
	if !found {
		name, _ := s.StackName(inst)
		return provisioner.Start{}, provisioner.Terminal(provisioner.ReasonRefused, &StackError{Op: "update", StackName: name, StackID: inst.Resource, Err: ErrStackNotFound})
	}
	id, name := aws.ToString(st.StackId), aws.ToString(st.StackName)
	serr := &StackError{Op: "update", StackName: name, StackID: id, Status: string(st.StackStatus)}
	if settledRefusal(st.StackStatus) {
		serr.Err = ErrNotUpdatable
		return provisioner.Start{}, provisioner.Terminal(provisioner.ReasonRefused, serr)
	}
	planID := cmpOr(change.PlanID, inst.PlanID)
	newTemplate := planID != inst.PlanID || change.MaintenanceVersion != ""
	t, err := s.template(ctx, inst.ServiceID, planID)
	if err != nil {
		return provisioner.Start{}, err
	}
	current := make(map[string]bool, len(st.Parameters))
	for _, p := range st.Parameters {
		current[aws.ToString(p.ParameterKey)] = true
	}
	declared := t.Parameters
	templateID := t.ID
	caps := slices.Clone(t.Capabilities)
	if !newTemplate {
		// The stack's template declares exactly the stack's parameters;
		// their types come from the plan where it still declares them.
		declared = make(map[string]ParameterSpec, len(current))
		for k := range current {
			declared[k] = t.Parameters[k]
		}
		templateID = tagValue(st.Tags, TagTemplateID)
		for _, c := range st.Capabilities {
			caps = append(caps, string(c))
		}
	}
	params, err := updateParameters(declared, t.FixedParameters, newTemplate, current, change.Parameters)
	if err != nil {
		return provisioner.Start{}, err
	}
	in := &cfn.UpdateStackInput{
		StackName:          aws.String(id),
		Parameters:         params.params,
		Capabilities:       capabilities(caps),
		ClientRequestToken: aws.String(clientRequestToken(op.ID, "")),
		Tags:               s.tags(inst, planID, templateID),
		RoleARN:            s.roleARN(),
	}
	if newTemplate {
		in.TemplateBody = aws.String(t.Body)
	} else {
		in.UsePreviousTemplate = aws.Bool(true)
	}
	_, err = c.UpdateStack(ctx, in)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "updating stack", "stack", name, "stack_id", id, "operation", op.ID, "instance_id", inst.ID, "plan_id", planID, "template_id", templateID, "new_template", newTemplate)
		return provisioner.Start{Resource: id, Template: templateID}, nil
	case isNoUpdates(err):
		s.log.InfoContext(ctx, "stack update changes nothing", "stack", name, "operation", op.ID)
		return provisioner.Start{Resource: id, Done: true}, nil
	case isNotFound(err):
		serr.Err, serr.Status = ErrStackNotFound, ""
		return provisioner.Start{}, provisioner.Terminal(provisioner.ReasonRefused, serr)
	}
	if state, ok := refusedState(err); ok {
		serr.Status, serr.Err = state, ErrNotUpdatable
		if strings.HasSuffix(state, "_IN_PROGRESS") {
			serr.Err = ErrBusy
		}
		return provisioner.Start{}, s.failed(ctx, op, provisioner.Terminal(provisioner.ReasonRefused, serr))
	}
	return provisioner.Start{}, s.failed(ctx, op, classify(err, "update stack "+name, params.values))
}

// Delete starts deleting inst's stack and returns its ID, or Done when
// there is no stack to delete (never created, already deleted, or the
// name held by a stack that is not inst's). A stack in DELETE_FAILED is
// deleted again, retaining the resources that failed if
// Options.RetainResourcesOnDeleteFailure is set. A stack with termination
// protection is a terminal ReasonRefused error wrapping
// [ErrTerminationProtected].
func (s *Stacks) Delete(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	c, err := s.client(ctx, inst.Target)
	if err != nil {
		return provisioner.Start{}, err
	}
	st, found, err := s.lookup(ctx, c, inst)
	if err != nil {
		return provisioner.Start{}, err
	}
	if !found || st.StackStatus == types.StackStatusDeleteComplete {
		s.log.InfoContext(ctx, "no stack to delete", "operation", op.ID, "instance_id", inst.ID, "stack_id", inst.Resource)
		return provisioner.Start{Resource: inst.Resource, Done: true}, nil
	}
	id, name := aws.ToString(st.StackId), aws.ToString(st.StackName)
	serr := &StackError{Op: "delete", StackName: name, StackID: id, Status: string(st.StackStatus)}
	if aws.ToBool(st.EnableTerminationProtection) {
		serr.Err = ErrTerminationProtected
		return provisioner.Start{}, s.failed(ctx, op, provisioner.Terminal(provisioner.ReasonRefused, serr))
	}
	in := &cfn.DeleteStackInput{
		StackName:          aws.String(id),
		ClientRequestToken: aws.String(clientRequestToken(op.ID, "")),
		RoleARN:            s.roleARN(),
	}
	if st.StackStatus == types.StackStatusDeleteFailed && s.opts.RetainResourcesOnDeleteFailure {
		ids, err := s.failedResources(ctx, c, st)
		if err != nil {
			return provisioner.Start{}, classify(err, "read events of stack "+name, nil)
		}
		in.RetainResources = ids
	}
	_, err = c.DeleteStack(ctx, in)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "deleting stack", "stack", name, "stack_id", id, "operation", op.ID, "instance_id", inst.ID, "retain", in.RetainResources)
		return provisioner.Start{Resource: id}, nil
	case isNotFound(err):
		return provisioner.Start{Resource: id, Done: true}, nil
	case isValidation(err, msgTermination):
		serr.Err = ErrTerminationProtected
		return provisioner.Start{}, s.failed(ctx, op, provisioner.Terminal(provisioner.ReasonRefused, serr))
	}
	if state, ok := refusedState(err); ok {
		// A state that refuses a delete is one in progress: it ends.
		serr.Status, serr.Err = state, ErrBusy
		return provisioner.Start{}, retryable(serr)
	}
	return provisioner.Start{}, s.failed(ctx, op, classify(err, "delete stack "+name, nil))
}

// Observe reads inst's stack (by stack ID, or by name while it has none)
// and judges its status for the operation (see [Judge]). A failure's
// Description is its root cause; a success's Outputs are the stack's. A
// stack that does not exist is a deprovision's success, and any other
// operation's failure.
func (s *Stacks) Observe(ctx context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	if req.Instance == nil || req.Operation == nil {
		return provisioner.Observation{}, errors.New("cloudformation: Observe needs an Instance and an Operation")
	}
	c, err := s.client(ctx, req.Instance.Target)
	if err != nil {
		return provisioner.Observation{}, err
	}
	st, found, err := s.lookup(ctx, c, req.Instance)
	if err != nil {
		return provisioner.Observation{}, err
	}
	if !found {
		return missing(req.Operation.Kind), nil
	}
	return s.judge(ctx, c, st, req)
}

// ObserveBatch observes reqs. From Options.BatchMin requests of one
// Target on, it lists every stack of that Target with one paged DescribeStacks and matches them by stack ID;
// instances whose stack is not in the listing (deleted stacks, which the
// listing leaves out, and instances without a stack ID) are observed one
// by one. Events are read only for failures. Below BatchMin, it calls
// Observe for each.
func (s *Stacks) ObserveBatch(ctx context.Context, reqs []provisioner.ObserveRequest) ([]provisioner.Observation, []error) {
	obs := make([]provisioner.Observation, len(reqs))
	errs := make([]error, len(reqs))
	// One listing per account, role and region: group by Target.
	groups := map[credentials.Target][]int{}
	var order []credentials.Target
	for i, r := range reqs {
		var t credentials.Target
		if r.Instance != nil {
			t = r.Instance.Target
		}
		if _, ok := groups[t]; !ok {
			order = append(order, t)
		}
		groups[t] = append(groups[t], i)
	}
	for _, t := range order {
		idx := groups[t]
		if s.opts.BatchMin < 0 || len(idx) < s.opts.BatchMin {
			for _, i := range idx {
				obs[i], errs[i] = s.Observe(ctx, reqs[i])
			}
			continue
		}
		c, err := s.client(ctx, t)
		var listed map[string]*types.Stack
		if err == nil {
			listed, err = s.listStacks(ctx, c)
		}
		if err != nil {
			for _, i := range idx {
				errs[i] = err
			}
			continue
		}
		for _, i := range idx {
			r := reqs[i]
			if r.Instance != nil && r.Operation != nil && r.Instance.Resource != "" {
				if st, ok := listed[r.Instance.Resource]; ok {
					obs[i], errs[i] = s.judge(ctx, c, st, r)
					continue
				}
			}
			obs[i], errs[i] = s.Observe(ctx, r)
		}
	}
	return obs, errs
}

// listStacks reads every live stack of the account and region, by ID.
func (s *Stacks) listStacks(ctx context.Context, c API) (map[string]*types.Stack, error) {
	out := map[string]*types.Stack{}
	in := &cfn.DescribeStacksInput{}
	for {
		page, err := c.DescribeStacks(ctx, in)
		if err != nil {
			return nil, classify(err, "list stacks", nil)
		}
		for i := range page.Stacks {
			st := &page.Stacks[i]
			out[aws.ToString(st.StackId)] = st
		}
		if page.NextToken == nil || aws.ToString(page.NextToken) == aws.ToString(in.NextToken) {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// missing is the observation of an operation whose stack does not exist.
func missing(kind provisioner.Kind) provisioner.Observation {
	if kind == provisioner.KindDeprovision {
		return provisioner.Observation{State: provisioner.Succeeded, Status: string(types.StackStatusDeleteComplete)}
	}
	v := Judge(kind, string(types.StackStatusDeleteComplete))
	return provisioner.Observation{State: v.State, InstanceUsable: v.InstanceUsable, UpdateRepeatable: v.UpdateRepeatable,
		Description: "The instance's stack does not exist."}
}

// judge turns stack st into the observation of req's operation. Its only
// error is a transient failure to read a failure's root cause.
func (s *Stacks) judge(ctx context.Context, c API, st *types.Stack, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	kind := req.Operation.Kind
	v := Judge(kind, string(st.StackStatus))
	obs := provisioner.Observation{State: v.State, Status: string(st.StackStatus), InstanceUsable: v.InstanceUsable, UpdateRepeatable: v.UpdateRepeatable}
	switch v.State {
	case provisioner.Succeeded:
		if kind != provisioner.KindDeprovision {
			obs.Outputs = make(map[string]string, len(st.Outputs))
			for _, o := range st.Outputs {
				obs.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
			}
		}
	case provisioner.Failed:
		cause, err := s.rootCause(ctx, c, st, req.Operation)
		if err != nil {
			return provisioner.Observation{}, err
		}
		obs.Description = redact(cause, s.secretValues(ctx, req.Instance))
		s.log.InfoContext(ctx, "stack operation failed", "stack", aws.ToString(st.StackName), "operation", req.Operation.ID, "kind", kind, "status", st.StackStatus)
	}
	return obs, nil
}

// secretValues returns the values in inst.Parameters of the parameters
// the plan's template marks NoEcho, as sent to CloudFormation, to cut out
// of descriptions. The Tracker observes without secret values, so this is
// usually empty; it matters to callers that observe with them.
func (s *Stacks) secretValues(ctx context.Context, inst *provisioner.Instance) []string {
	if len(inst.Parameters) == 0 {
		return nil
	}
	t, err := s.template(ctx, inst.ServiceID, inst.PlanID)
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(t.Parameters)) {
		if v, ok := inst.Parameters[k]; ok && t.Parameters[k].NoEcho {
			if sv, err := ParameterValue(k, t.Parameters[k].Type, v); err == nil {
				out = append(out, sv)
			}
		}
	}
	return out
}

// lookup reads inst's stack: by stack ID if it has one, else by name, in
// which case a stack that is not inst's counts as not found.
func (s *Stacks) lookup(ctx context.Context, c API, inst *provisioner.Instance) (*types.Stack, bool, error) {
	if inst.Resource != "" {
		return s.describe(ctx, c, inst.Resource)
	}
	name, err := s.StackName(inst)
	if err != nil {
		return nil, false, err
	}
	st, found, err := s.describe(ctx, c, name)
	if err != nil || !found {
		return nil, false, err
	}
	if tagValue(st.Tags, TagInstanceID) != inst.ID {
		return nil, false, nil
	}
	return st, true, nil
}

// describe reads one stack by name or ID; found is false if it does not
// exist.
func (s *Stacks) describe(ctx context.Context, c API, nameOrID string) (st *types.Stack, found bool, err error) {
	out, err := c.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(nameOrID)})
	if err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, false, classify(err, "describe stack "+nameOrID, nil)
	}
	if len(out.Stacks) == 0 {
		return nil, false, nil
	}
	return &out.Stacks[0], true, nil
}

// refusedState returns the state named by a ValidationError that refuses
// an operation for the stack's state.
func refusedState(err error) (string, bool) {
	a, ok := apiError(err)
	if !ok || a.ErrorCode() != codeValidation {
		return "", false
	}
	m := stateRE.FindStringSubmatch(a.ErrorMessage())
	if m == nil {
		return "", false
	}
	return m[1], true
}

func (s *Stacks) roleARN() *string {
	if s.opts.RoleARN == "" {
		return nil
	}
	return aws.String(s.opts.RoleARN)
}

// failed logs a terminal error of op and returns err.
func (s *Stacks) failed(ctx context.Context, op *provisioner.Operation, err error) error {
	if !provisioner.IsRetryable(err) {
		s.log.WarnContext(ctx, "stack operation refused", "operation", op.ID, "kind", op.Kind, "error", err)
	}
	return err
}

// capabilities converts and de-duplicates capability names, sorted.
func capabilities(names []string) []types.Capability {
	if len(names) == 0 {
		return nil
	}
	seen := map[string]bool{}
	out := make([]types.Capability, 0, len(names))
	for _, n := range slices.Sorted(slices.Values(names)) {
		if !seen[n] {
			seen[n] = true
			out = append(out, types.Capability(n))
		}
	}
	return out
}
