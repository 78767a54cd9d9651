package cloudformation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/provisioner"
)

var ctx = context.Background()

func TestNewValidates(t *testing.T) {
	_, err := New(Options{StackPrefix: "9bad"})
	for _, want := range []string{"Client or Options.Clients is required", "Catalog is required", "Templates is required", "StackPrefix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(bad options) = %v, want an error containing %q", err, want)
		}
	}
	opts := Options{Client: &fakeAPI{}, Catalog: testCatalog(), Templates: testTemplates()}
	s, err := New(opts, func(o *Options) { o.BatchMin = 5 })
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.StackPrefix != "brokerkit" || s.opts.BatchMin != 5 {
		t.Errorf("defaults/optFns: prefix %q, BatchMin %d", s.opts.StackPrefix, s.opts.BatchMin)
	}
	if opts.StackPrefix != "" {
		t.Errorf("New changed the caller's Options")
	}
}

func TestCreateInput(t *testing.T) {
	f := &fakeAPI{create: func(in *cfn.CreateStackInput) (*cfn.CreateStackOutput, error) {
		return &cfn.CreateStackOutput{StackId: aws.String(testStackID)}, nil
	}}
	s := newTestStacks(f, func(o *Options) {
		o.RoleARN = "arn:aws:iam::123456789012:role/cfn"
		o.TerminationProtection = true
		o.TimeoutInMinutes = 30
	})
	inst := testInstance()
	inst.Resource = ""
	inst.Parameters = map[string]any{"Retention": float64(1209600), "Label": true}
	inst.Context = map[string]any{"platform": "kubernetes", "namespace": "team-a"}
	st, err := s.Create(ctx, testOp(provisioner.KindProvision), inst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resource != testStackID || st.Done || !strings.HasPrefix(st.Template, "sha256:") {
		t.Errorf("Start = %+v, want the stack ID and the template's identity", st)
	}
	in := callsOf[*cfn.CreateStackInput](f)[0]
	if got, want := aws.ToString(in.StackName), "brokerkit-queue-inst-1"; got != want {
		t.Errorf("StackName = %q, want %q", got, want)
	}
	if got := aws.ToString(in.ClientRequestToken); got != "op-provision" {
		t.Errorf("ClientRequestToken = %q", got)
	}
	if diff := cmp.Diff(map[string]string{"Retention": "1209600", "Label": "true", "Size": "small"}, paramMap(in.Parameters)); diff != "" {
		t.Errorf("Parameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]types.Capability{"CAPABILITY_IAM"}, in.Capabilities); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
	if aws.ToString(in.RoleARN) == "" || aws.ToInt32(in.TimeoutInMinutes) != 30 || !aws.ToBool(in.EnableTerminationProtection) {
		t.Errorf("RoleARN %q, TimeoutInMinutes %d, EnableTerminationProtection %v", aws.ToString(in.RoleARN), aws.ToInt32(in.TimeoutInMinutes), aws.ToBool(in.EnableTerminationProtection))
	}
	if aws.ToString(in.TemplateBody) != testBody {
		t.Errorf("TemplateBody = %q", aws.ToString(in.TemplateBody))
	}
	tags := tagMap(in.Tags)
	want := map[string]string{
		TagBrokerID: "broker-1", TagInstanceID: "inst-1", TagServiceID: testServiceID, TagPlanID: testPlanID,
		TagTemplateID: TemplateID(testBody), TagPlatform: "kubernetes", TagNamespace: "team-a",
	}
	if diff := cmp.Diff(want, tags); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
}

func TestCreateAlreadyExists(t *testing.T) {
	exists := &types.AlreadyExistsException{Message: aws.String("Stack [brokerkit-queue-inst-1] already exists")}
	tests := []struct {
		reason     string
		stack      *cfn.DescribeStacksOutput
		wantStart  provisioner.Start
		wantErr    error
		wantClass  class
		wantDelete bool
	}{
		{
			reason:    "our own stack (a create repeated after a crash) is success with its ID",
			stack:     stackOf(types.StackStatusCreateInProgress),
			wantStart: provisioner.Start{Resource: testStackID, Template: "tmpl-old"},
		},
		{
			reason:    "another instance's stack is refused",
			stack:     stackOf(types.StackStatusCreateComplete, func(st *types.Stack) { st.Tags = nil }),
			wantErr:   ErrNotOwned,
			wantClass: cRefused,
		},
		{
			reason:     "our failed stack of an earlier create is deleted, and the create retried",
			stack:      stackOf(types.StackStatusRollbackComplete),
			wantErr:    ErrRecreating,
			wantClass:  cRetry,
			wantDelete: true,
		},
		{
			reason:    "our failed stack being deleted: retry later",
			stack:     stackOf(types.StackStatusDeleteInProgress),
			wantErr:   ErrRecreating,
			wantClass: cRetry,
		},
		{
			reason: "our stack that this very operation created and that rolled back is this operation's: its failure shows in Observe",
			stack: stackOf(types.StackStatusRollbackComplete, func(st *types.Stack) {
				st.CreationTime = aws.Time(opCreatedAt.Add(time.Second))
			}),
			wantStart: provisioner.Start{Resource: testStackID, Template: "tmpl-old"},
		},
	}
	for _, tt := range tests {
		f := &fakeAPI{
			create:   func(*cfn.CreateStackInput) (*cfn.CreateStackOutput, error) { return nil, exists },
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) { return tt.stack, nil },
			delete:   func(*cfn.DeleteStackInput) (*cfn.DeleteStackOutput, error) { return &cfn.DeleteStackOutput{}, nil },
		}
		s := newTestStacks(f)
		inst := testInstance()
		inst.Resource = ""
		st, err := s.Create(ctx, testOp(provisioner.KindProvision), inst)
		if tt.wantErr == nil {
			if err != nil || st != tt.wantStart {
				t.Errorf("%s: Create = %+v, %v; want %+v", tt.reason, st, err, tt.wantStart)
			}
		} else {
			if !errors.Is(err, tt.wantErr) || classOf(err) != tt.wantClass {
				t.Errorf("%s: err = %v (%s), want %v (%s)", tt.reason, err, classOf(err), tt.wantErr, tt.wantClass)
			}
		}
		deletes := callsOf[*cfn.DeleteStackInput](f)
		if tt.wantDelete != (len(deletes) == 1) {
			t.Errorf("%s: %d DeleteStack calls, want delete %v", tt.reason, len(deletes), tt.wantDelete)
		}
		if len(deletes) == 1 {
			if got := aws.ToString(deletes[0].ClientRequestToken); got != "op-provision-cleanup" {
				t.Errorf("%s: cleanup token %q", tt.reason, got)
			}
			if got := aws.ToString(deletes[0].StackName); got != testStackID {
				t.Errorf("%s: deleted %q, want the stack ID", tt.reason, got)
			}
		}
		if tt.wantErr == ErrRecreating && !strings.Contains(err.Error(), "re-creating: the failed stack is being deleted first") {
			t.Errorf("%s: message %q", tt.reason, err)
		}
	}
}

func TestCreateErrorsHoldNoValues(t *testing.T) {
	secret := canary.Plant(t)
	f := &fakeAPI{create: func(*cfn.CreateStackInput) (*cfn.CreateStackOutput, error) {
		return nil, validationError("Parameter Password failed to satisfy constraint: value " + secret + " is too weak; Retention 1209600 too large")
	}}
	var logs strings.Builder
	s := newTestStacks(f, func(o *Options) { o.Logger = newTextLogger(io.MultiWriter(&logs, canary.Writer(t))) })
	inst := testInstance()
	inst.Resource = ""
	inst.Parameters = map[string]any{"Password": secret, "Retention": json.Number("1209600")}
	_, err := s.Create(ctx, testOp(provisioner.KindProvision), inst)
	if classOf(err) != cInvalid {
		t.Errorf("err = %v, want terminal invalid", err)
	}
	for _, text := range []string{err.Error(), logs.String()} {
		if strings.Contains(text, secret) || strings.Contains(text, "1209600") {
			t.Errorf("a parameter value leaked: %q", text)
		}
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("the refusal was not logged: %q", logs.String())
	}
}

func TestCreateUnknownServiceAndPlan(t *testing.T) {
	s := newTestStacks(&fakeAPI{})
	inst := testInstance()
	inst.ServiceID = "nope"
	if _, err := s.Create(ctx, testOp(provisioner.KindProvision), inst); classOf(err) != cInvalid {
		t.Errorf("unknown service: %v, want terminal invalid", err)
	}
	inst = testInstance()
	inst.PlanID = "nope"
	if _, err := s.Create(ctx, testOp(provisioner.KindProvision), inst); classOf(err) != cInvalid || !errors.Is(err, ErrNoTemplate) {
		t.Errorf("unknown plan: %v, want terminal invalid ErrNoTemplate", err)
	}
}

func TestUpdatePinned(t *testing.T) {
	f := &fakeAPI{
		describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
			return stackOf(types.StackStatusCreateComplete, withParams("Retention", "60", "Label", "x", "Password", "****", "Size", "small"),
				func(st *types.Stack) { st.Capabilities = []types.Capability{"CAPABILITY_NAMED_IAM"} }), nil
		},
		update: func(*cfn.UpdateStackInput) (*cfn.UpdateStackOutput, error) {
			return &cfn.UpdateStackOutput{StackId: aws.String(testStackID)}, nil
		},
	}
	s := newTestStacks(f)
	st, err := s.Update(ctx, testOp(provisioner.KindUpdate), testInstance(), provisioner.Change{Parameters: map[string]any{"Retention": json.Number("120")}})
	if err != nil || st != (provisioner.Start{Resource: testStackID, Template: "tmpl-old"}) {
		t.Fatalf("Update = %+v, %v; want the stack's pinned template", st, err)
	}
	in := callsOf[*cfn.UpdateStackInput](f)[0]
	if !aws.ToBool(in.UsePreviousTemplate) || in.TemplateBody != nil {
		t.Errorf("UsePreviousTemplate %v, TemplateBody %v: want the previous template", aws.ToBool(in.UsePreviousTemplate), in.TemplateBody)
	}
	want := map[string]string{"Retention": "120", "Label": "<previous>", "Password": "<previous>", "Size": "<previous>"}
	if diff := cmp.Diff(want, paramMap(in.Parameters)); diff != "" {
		t.Errorf("Parameters (-want +got):\n%s", diff)
	}
	if got := tagMap(in.Tags)[TagTemplateID]; got != "tmpl-old" {
		t.Errorf("template-id tag %q, want the stack's own", got)
	}
	if diff := cmp.Diff([]types.Capability{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}, in.Capabilities); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
	if aws.ToString(in.ClientRequestToken) != "op-update" || aws.ToString(in.StackName) != testStackID {
		t.Errorf("token %q, stack %q", aws.ToString(in.ClientRequestToken), aws.ToString(in.StackName))
	}
}

func TestUpdateNewTemplate(t *testing.T) {
	for _, tt := range []struct {
		reason   string
		change   provisioner.Change
		wantPlan string
		wantBody string
		wantTmpl string
	}{
		{"a plan change sends the new plan's template", provisioner.Change{PlanID: testPlan2ID}, testPlan2ID, testBody2, "large-v2"},
		{"a maintenance upgrade sends the plan's current template", provisioner.Change{MaintenanceVersion: "2.0.0"}, testPlanID, testBody, TemplateID(testBody)},
	} {
		f := &fakeAPI{
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
				return stackOf(types.StackStatusUpdateComplete, withParams("Retention", "60", "Label", "x", "Size", "small")), nil
			},
			update: func(*cfn.UpdateStackInput) (*cfn.UpdateStackOutput, error) { return &cfn.UpdateStackOutput{}, nil },
		}
		if _, err := newTestStacks(f).Update(ctx, testOp(provisioner.KindUpdate), testInstance(), tt.change); err != nil {
			t.Errorf("%s: %v", tt.reason, err)
			continue
		}
		in := callsOf[*cfn.UpdateStackInput](f)[0]
		if aws.ToBool(in.UsePreviousTemplate) || aws.ToString(in.TemplateBody) != tt.wantBody {
			t.Errorf("%s: UsePreviousTemplate %v, body %q", tt.reason, aws.ToBool(in.UsePreviousTemplate), aws.ToString(in.TemplateBody))
		}
		tags := tagMap(in.Tags)
		if tags[TagPlanID] != tt.wantPlan || tags[TagTemplateID] != tt.wantTmpl {
			t.Errorf("%s: plan tag %q, template tag %q", tt.reason, tags[TagPlanID], tags[TagTemplateID])
		}
		if fixed := paramMap(in.Parameters)["Size"]; fixed == "<previous>" || fixed == "" {
			t.Errorf("%s: fixed parameter Size = %q, want set explicitly", tt.reason, fixed)
		}
	}
}

func TestUpdateOutcomes(t *testing.T) {
	tests := []struct {
		reason    string
		status    types.StackStatus
		describe  error
		update    error
		wantStart provisioner.Start
		wantErr   error
		wantClass class
		noUpdate  bool
	}{
		{reason: "nothing to change is done", status: types.StackStatusUpdateComplete,
			update: validationError("No updates are to be performed."), wantStart: provisioner.Start{Resource: testStackID, Done: true}},
		{reason: "ROLLBACK_COMPLETE is refused without calling UpdateStack", status: types.StackStatusRollbackComplete,
			wantErr: ErrNotUpdatable, wantClass: cRefused, noUpdate: true},
		{reason: "UPDATE_ROLLBACK_FAILED is refused", status: types.StackStatusUpdateRollbackFailed,
			wantErr: ErrNotUpdatable, wantClass: cRefused, noUpdate: true},
		{reason: "an operation in progress (not ours: CloudFormation refuses) is busy", status: types.StackStatusUpdateInProgress,
			update:  validationError("Stack:" + testStackID + " is in UPDATE_IN_PROGRESS state and can not be updated."),
			wantErr: ErrBusy, wantClass: cRefused},
		{reason: "our own update in progress (a repeat of its token) is accepted", status: types.StackStatusUpdateInProgress,
			wantStart: provisioner.Start{Resource: testStackID, Template: "tmpl-old"}},
		{reason: "a stack that does not exist is refused", describe: notFound(testStackID),
			wantErr: ErrStackNotFound, wantClass: cRefused, noUpdate: true},
		{reason: "throttling is retried", status: types.StackStatusCreateComplete,
			update: apiErr("Throttling", "Rate exceeded", 0), wantClass: cRetry},
		{reason: "InsufficientCapabilities is invalid", status: types.StackStatusCreateComplete,
			update: &types.InsufficientCapabilitiesException{Message: aws.String("Requires capabilities : [CAPABILITY_IAM]")}, wantClass: cInvalid},
	}
	for _, tt := range tests {
		f := &fakeAPI{
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
				if tt.describe != nil {
					return nil, tt.describe
				}
				return stackOf(tt.status, withParams("Retention", "60")), nil
			},
			update: func(*cfn.UpdateStackInput) (*cfn.UpdateStackOutput, error) {
				if tt.update != nil {
					return nil, tt.update
				}
				return &cfn.UpdateStackOutput{StackId: aws.String(testStackID)}, nil
			},
		}
		st, err := newTestStacks(f).Update(ctx, testOp(provisioner.KindUpdate), testInstance(), provisioner.Change{})
		switch {
		case tt.wantClass == "":
			if err != nil || st != tt.wantStart {
				t.Errorf("%s: Update = %+v, %v; want %+v", tt.reason, st, err, tt.wantStart)
			}
		case classOf(err) != tt.wantClass || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)):
			t.Errorf("%s: err = %v (%s), want %v (%s)", tt.reason, err, classOf(err), tt.wantErr, tt.wantClass)
		}
		if n := len(callsOf[*cfn.UpdateStackInput](f)); tt.noUpdate && n != 0 {
			t.Errorf("%s: %d UpdateStack calls, want none", tt.reason, n)
		}
	}
}

func TestDelete(t *testing.T) {
	failedEvents := &cfn.DescribeStackEventsOutput{StackEvents: []types.StackEvent{
		stackEvent("brokerkit-queue-inst-1", "AWS::CloudFormation::Stack", types.ResourceStatusDeleteFailed, "The following resource(s) failed to delete: [Bucket, Role].", "old"),
		stackEvent("Role", "AWS::IAM::Role", types.ResourceStatusDeleteFailed, "Access denied", "old"),
		stackEvent("Bucket", "AWS::S3::Bucket", types.ResourceStatusDeleteFailed, "The bucket is not empty", "old"),
		stackEvent("Queue", "AWS::SQS::Queue", types.ResourceStatusDeleteComplete, "", "old"),
		stackEvent("brokerkit-queue-inst-1", "AWS::CloudFormation::Stack", types.ResourceStatusDeleteInProgress, "User Initiated", "old"),
		stackEvent("Ancient", "AWS::SQS::Queue", types.ResourceStatusDeleteFailed, "an earlier delete", "older"),
	}}
	tests := []struct {
		reason     string
		stack      *cfn.DescribeStacksOutput
		describe   error
		deleteErr  error
		retain     bool
		wantStart  provisioner.Start
		wantErr    error
		wantClass  class
		wantDelete bool
		wantRetain []string
	}{
		{reason: "a stack that does not exist is done", describe: notFound(testStackID),
			wantStart: provisioner.Start{Resource: testStackID, Done: true}},
		{reason: "a deleted stack is done", stack: stackOf(types.StackStatusDeleteComplete),
			wantStart: provisioner.Start{Resource: testStackID, Done: true}},
		{reason: "a live stack is deleted", stack: stackOf(types.StackStatusUpdateComplete),
			wantStart: provisioner.Start{Resource: testStackID}, wantDelete: true},
		{reason: "DELETE_FAILED is deleted again", stack: stackOf(types.StackStatusDeleteFailed),
			wantStart: provisioner.Start{Resource: testStackID}, wantDelete: true},
		{reason: "DELETE_FAILED with RetainResourcesOnDeleteFailure retains the failed resources of the last delete",
			stack: stackOf(types.StackStatusDeleteFailed), retain: true,
			wantStart: provisioner.Start{Resource: testStackID}, wantDelete: true, wantRetain: []string{"Role", "Bucket"}},
		{reason: "termination protection is refused",
			stack:   stackOf(types.StackStatusCreateComplete, func(st *types.Stack) { st.EnableTerminationProtection = aws.Bool(true) }),
			wantErr: ErrTerminationProtected, wantClass: cRefused},
		{reason: "termination protection found by DeleteStack is refused", stack: stackOf(types.StackStatusCreateComplete),
			deleteErr: validationError("Stack [x] cannot be deleted while TerminationProtection is enabled"),
			wantErr:   ErrTerminationProtected, wantClass: cRefused, wantDelete: true},
		{reason: "a state that refuses the delete is waited out", stack: stackOf(types.StackStatusUpdateCompleteCleanupInProgress),
			deleteErr: validationError("Stack x cannot be deleted while in status UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
			wantErr:   ErrBusy, wantClass: cRetry, wantDelete: true},
		{reason: "throttling is retried", describe: apiErr("Throttling", "Rate exceeded", 0), wantClass: cRetry},
	}
	for _, tt := range tests {
		f := &fakeAPI{
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
				if tt.describe != nil {
					return nil, tt.describe
				}
				return tt.stack, nil
			},
			events: func(*cfn.DescribeStackEventsInput) (*cfn.DescribeStackEventsOutput, error) { return failedEvents, nil },
			delete: func(*cfn.DeleteStackInput) (*cfn.DeleteStackOutput, error) {
				return &cfn.DeleteStackOutput{}, tt.deleteErr
			},
		}
		s := newTestStacks(f, func(o *Options) { o.RetainResourcesOnDeleteFailure = tt.retain })
		st, err := s.Delete(ctx, testOp(provisioner.KindDeprovision), testInstance())
		if tt.wantClass == "" {
			if err != nil || st != tt.wantStart {
				t.Errorf("%s: Delete = %+v, %v; want %+v", tt.reason, st, err, tt.wantStart)
			}
		} else if classOf(err) != tt.wantClass || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("%s: err = %v (%s), want %v (%s)", tt.reason, err, classOf(err), tt.wantErr, tt.wantClass)
		}
		deletes := callsOf[*cfn.DeleteStackInput](f)
		if tt.wantDelete != (len(deletes) == 1) {
			t.Errorf("%s: %d DeleteStack calls, want delete %v", tt.reason, len(deletes), tt.wantDelete)
			continue
		}
		if len(deletes) == 1 {
			if diff := cmp.Diff(tt.wantRetain, deletes[0].RetainResources); diff != "" {
				t.Errorf("%s: RetainResources (-want +got):\n%s", tt.reason, diff)
			}
			if aws.ToString(deletes[0].ClientRequestToken) != "op-deprovision" {
				t.Errorf("%s: token %q", tt.reason, aws.ToString(deletes[0].ClientRequestToken))
			}
		}
	}
}

func TestDeleteByNameOnlyOurs(t *testing.T) {
	f := &fakeAPI{describe: func(in *cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
		if aws.ToString(in.StackName) != "brokerkit-queue-inst-1" {
			t.Errorf("described %q, want by name", aws.ToString(in.StackName))
		}
		return stackOf(types.StackStatusCreateComplete, func(st *types.Stack) { st.Tags = nil }), nil
	}}
	inst := testInstance()
	inst.Resource = ""
	st, err := newTestStacks(f).Delete(ctx, testOp(provisioner.KindDeprovision), inst)
	if err != nil || !st.Done || len(callsOf[*cfn.DeleteStackInput](f)) != 0 {
		t.Errorf("Delete of an instance without a stack, its name taken by another's: %+v, %v; want done, nothing deleted", st, err)
	}
}

var eventSeq int

func stackEvent(logicalID, typ string, status types.ResourceStatus, reason, token string) types.StackEvent {
	eventSeq++
	e := types.StackEvent{
		EventId:           aws.String("e" + string(rune('a'+eventSeq%26))),
		LogicalResourceId: aws.String(logicalID),
		ResourceType:      aws.String(typ),
		ResourceStatus:    status,
		StackId:           aws.String(testStackID),
		StackName:         aws.String("brokerkit-queue-inst-1"),
		Timestamp:         aws.Time(opCreatedAt.Add(time.Minute)),
	}
	if reason != "" {
		e.ResourceStatusReason = aws.String(reason)
	}
	if token != "" {
		e.ClientRequestToken = aws.String(token)
	}
	return e
}

func TestObserve(t *testing.T) {
	outputs := func(st *types.Stack) {
		st.Outputs = []types.Output{{OutputKey: aws.String("QueueURL"), OutputValue: aws.String("https://q")}}
	}
	tests := []struct {
		reason   string
		kind     provisioner.Kind
		stack    *cfn.DescribeStacksOutput
		describe error
		want     provisioner.Observation
	}{
		{reason: "a created stack has outputs", kind: provisioner.KindProvision,
			stack: stackOf(types.StackStatusCreateComplete, outputs),
			want:  provisioner.Observation{State: provisioner.Succeeded, Status: "CREATE_COMPLETE", Outputs: map[string]string{"QueueURL": "https://q"}}},
		{reason: "rolling back is in progress", kind: provisioner.KindProvision, stack: stackOf(types.StackStatusRollbackInProgress),
			want: provisioner.Observation{State: provisioner.InProgress, Status: "ROLLBACK_IN_PROGRESS"}},
		{reason: "a deleted stack is a deprovision's success, without outputs", kind: provisioner.KindDeprovision,
			stack: stackOf(types.StackStatusDeleteComplete, outputs),
			want:  provisioner.Observation{State: provisioner.Succeeded, Status: "DELETE_COMPLETE"}},
		{reason: "a stack that does not exist is a deprovision's success", kind: provisioner.KindDeprovision, describe: notFound(testStackID),
			want: provisioner.Observation{State: provisioner.Succeeded, Status: "DELETE_COMPLETE"}},
		{reason: "a stack that does not exist is an update's failure", kind: provisioner.KindUpdate, describe: notFound(testStackID),
			want: provisioner.Observation{State: provisioner.Failed, InstanceUsable: ptr(false), UpdateRepeatable: ptr(false), Description: "The instance's stack does not exist."}},
		{reason: "a rolled back update without events falls back to the status reason", kind: provisioner.KindUpdate,
			stack: stackOf(types.StackStatusUpdateRollbackComplete, func(st *types.Stack) { st.StackStatusReason = aws.String("Update cancelled") }),
			want: provisioner.Observation{State: provisioner.Failed, Status: "UPDATE_ROLLBACK_COMPLETE", InstanceUsable: ptr(true), UpdateRepeatable: ptr(true),
				Description: "Update cancelled"}},
	}
	for _, tt := range tests {
		f := &fakeAPI{
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) { return tt.stack, tt.describe },
			events: func(*cfn.DescribeStackEventsInput) (*cfn.DescribeStackEventsOutput, error) {
				return &cfn.DescribeStackEventsOutput{}, nil
			},
		}
		got, err := newTestStacks(f).Observe(ctx, provisioner.ObserveRequest{Instance: testInstance(), Operation: testOp(tt.kind)})
		if err != nil {
			t.Errorf("%s: %v", tt.reason, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Observe (-want +got):\n%s", tt.reason, diff)
		}
	}
}

func TestObserveRootCause(t *testing.T) {
	const stack = "brokerkit-queue-inst-1"
	// Newest first, as DescribeStackEvents returns them.
	withTokens := []types.StackEvent{
		stackEvent(stack, "AWS::CloudFormation::Stack", types.ResourceStatusUpdateRollbackComplete, "", "op-update"),
		stackEvent("Queue", "AWS::SQS::Queue", types.ResourceStatusUpdateComplete, "", "op-update"),
		stackEvent(stack, "AWS::CloudFormation::Stack", types.ResourceStatusUpdateRollbackInProgress, "The following resource(s) failed to update: [Policy, Queue].", "op-update"),
		stackEvent("Policy", "AWS::SQS::QueuePolicy", types.ResourceStatusUpdateFailed, "Resource update cancelled", "op-update"),
		stackEvent("Queue", "AWS::SQS::Queue", types.ResourceStatusUpdateFailed, "Invalid value for MessageRetentionPeriod", "op-update"),
		stackEvent("Queue", "AWS::SQS::Queue", types.ResourceStatusUpdateInProgress, "", "op-update"),
		stackEvent(stack, "AWS::CloudFormation::Stack", types.ResourceStatusUpdateInProgress, "User Initiated", "op-update"),
		// An earlier failed update: never this operation's cause.
		stackEvent(stack, "AWS::CloudFormation::Stack", types.ResourceStatusUpdateRollbackComplete, "", "op-earlier"),
		stackEvent("Topic", "AWS::SNS::Topic", types.ResourceStatusUpdateFailed, "the earlier cause", "op-earlier"),
	}
	// The same without tokens: told apart by time.
	withoutTokens := make([]types.StackEvent, len(withTokens))
	for i, e := range withTokens {
		e.ClientRequestToken = nil
		if i >= 7 {
			e.Timestamp = aws.Time(opCreatedAt.Add(-time.Minute))
		}
		withoutTokens[i] = e
	}
	for name, events := range map[string][]types.StackEvent{"tokens": withTokens, "timestamps": withoutTokens} {
		f := &fakeAPI{
			describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
				return stackOf(types.StackStatusUpdateRollbackComplete), nil
			},
			events: func(in *cfn.DescribeStackEventsInput) (*cfn.DescribeStackEventsOutput, error) {
				// Two pages, to follow NextToken.
				if in.NextToken == nil {
					return &cfn.DescribeStackEventsOutput{StackEvents: events[:3], NextToken: aws.String("p2")}, nil
				}
				return &cfn.DescribeStackEventsOutput{StackEvents: events[3:]}, nil
			},
		}
		got, err := newTestStacks(f).Observe(ctx, provisioner.ObserveRequest{Instance: testInstance(), Operation: testOp(provisioner.KindUpdate)})
		if err != nil {
			t.Fatal(err)
		}
		if want := "Queue (AWS::SQS::Queue): Invalid value for MessageRetentionPeriod"; got.Description != want {
			t.Errorf("%s: Description = %q, want %q", name, got.Description, want)
		}
	}
}

func TestObserveRedactsSecrets(t *testing.T) {
	secret := canary.Plant(t)
	f := &fakeAPI{
		describe: func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
			return stackOf(types.StackStatusRollbackComplete), nil
		},
		events: func(*cfn.DescribeStackEventsInput) (*cfn.DescribeStackEventsOutput, error) {
			return &cfn.DescribeStackEventsOutput{StackEvents: []types.StackEvent{
				stackEvent("User", "AWS::IAM::User", types.ResourceStatusCreateFailed, "Password "+secret+" does not meet policy", "op-provision"),
			}}, nil
		},
	}
	inst := testInstance()
	inst.Parameters = map[string]any{"Password": secret}
	got, err := newTestStacks(f, func(o *Options) { o.Logger = canary.Logger(t) }).Observe(ctx, provisioner.ObserveRequest{Instance: inst, Operation: testOp(provisioner.KindProvision)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "User (AWS::IAM::User): Password *** does not meet policy"; got.Description != want {
		t.Errorf("Description = %q, want %q", got.Description, want)
	}
}

func TestObserveBatch(t *testing.T) {
	const n = 7
	ids := make([]string, n)
	var listed []types.Stack
	for i := range ids {
		ids[i] = testStackID + string(rune('a'+i))
		if i == n-1 {
			continue // deleted: not in the listing
		}
		listed = append(listed, types.Stack{StackId: aws.String(ids[i]), StackName: aws.String("s"), StackStatus: types.StackStatusCreateComplete})
	}
	f := &fakeAPI{describe: func(in *cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
		if in.StackName != nil {
			return stackOf(types.StackStatusDeleteComplete, func(st *types.Stack) { st.StackId = in.StackName }), nil
		}
		// Pages of 4.
		if in.NextToken == nil {
			return &cfn.DescribeStacksOutput{Stacks: listed[:4], NextToken: aws.String("2")}, nil
		}
		return &cfn.DescribeStacksOutput{Stacks: listed[4:]}, nil
	}}
	s := newTestStacks(f, func(o *Options) { o.BatchMin = 5 })
	reqs := make([]provisioner.ObserveRequest, n)
	for i := range reqs {
		inst := testInstance()
		inst.Resource = ids[i]
		kind := provisioner.KindProvision
		if i == n-1 {
			kind = provisioner.KindDeprovision
		}
		reqs[i] = provisioner.ObserveRequest{Instance: inst, Operation: testOp(kind)}
	}
	obs, errs := s.ObserveBatch(ctx, reqs)
	for i := range reqs {
		if errs[i] != nil || obs[i].State != provisioner.Succeeded {
			t.Errorf("request %d: %+v, %v; want succeeded", i, obs[i], errs[i])
		}
	}
	describes := callsOf[*cfn.DescribeStacksInput](f)
	if len(describes) != 3 || describes[2].StackName == nil || aws.ToString(describes[2].StackName) != ids[n-1] {
		t.Errorf("DescribeStacks calls: %d; want 2 pages and one by ID for the deleted stack", len(describes))
	}

	// Below BatchMin: one call each.
	f.calls = nil
	obs, errs = s.ObserveBatch(ctx, reqs[:2])
	if len(callsOf[*cfn.DescribeStacksInput](f)) != 2 || errs[0] != nil || obs[1].State == "" {
		t.Errorf("below BatchMin: %d calls", len(f.calls))
	}

	// A failed listing is every request's error.
	f.describe = func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error) {
		return nil, apiErr("Throttling", "Rate exceeded", 0)
	}
	_, errs = s.ObserveBatch(ctx, reqs)
	for i, err := range errs {
		if classOf(err) != cRetry {
			t.Errorf("request %d: err %v, want retryable", i, err)
		}
	}
}
