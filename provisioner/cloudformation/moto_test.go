package cloudformation_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// sqsTemplate is a real template moto runs: a queue whose retention is a
// Number parameter, a String parameter, and the queue's URL and ARN as
// outputs. Neither parameter has a Default: moto 5.2 answers an
// UpdateStack with UsePreviousValue for a parameter that took its default
// at create with HTTP 500 (KeyError), so the tests pass every parameter.
const sqsTemplate = `{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {
    "Retention": {"Type": "Number"},
    "Label": {"Type": "String"}
  },
  "Resources": {
    "Queue": {
      "Type": "AWS::SQS::Queue",
      "Properties": {"MessageRetentionPeriod": {"Ref": "Retention"}}
    }
  },
  "Outputs": {
    "QueueURL": {"Value": {"Ref": "Queue"}},
    "QueueARN": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}
  }
}`

const (
	sqsServiceID = "7d3b1c9e-sqs"
	sqsPlanID    = "7d3b1c9e-sqs-standard"
)

func sqsCatalog(t testing.TB) *catalog.Index {
	t.Helper()
	x, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: sqsServiceID, Name: "sqs", Description: "SQS queues", Bindable: true,
		Plans: []catalog.Plan{{ID: sqsPlanID, Name: "standard", Description: "a standard queue"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func sqsTemplates() cloudformation.StaticTemplates {
	return cloudformation.StaticTemplates{sqsPlanID: {
		Body: sqsTemplate,
		Parameters: map[string]cloudformation.ParameterSpec{
			"Retention": {Type: "Number"},
			"Label":     {Type: "String"},
		},
	}}
}

// countingAPI counts the calls made through it.
type countingAPI struct {
	cloudformation.API
	describeByName, describeAll, events atomic.Int32
}

func (c *countingAPI) DescribeStacks(ctx context.Context, in *cfn.DescribeStacksInput, optFns ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error) {
	if in.StackName != nil {
		c.describeByName.Add(1)
	} else {
		c.describeAll.Add(1)
	}
	return c.API.DescribeStacks(ctx, in, optFns...)
}

func (c *countingAPI) DescribeStackEvents(ctx context.Context, in *cfn.DescribeStackEventsInput, optFns ...func(*cfn.Options)) (*cfn.DescribeStackEventsOutput, error) {
	c.events.Add(1)
	return c.API.DescribeStackEvents(ctx, in, optFns...)
}

// unique returns a name no other test (or earlier run against a reused
// server) has used.
func unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

type motoEnv struct {
	client *cfn.Client
	api    *countingAPI
	stacks *cloudformation.Stacks
}

func newMoto(t *testing.T, optFns ...func(*cloudformation.Options)) *motoEnv {
	t.Helper()
	endpoint := mototest.Endpoint(t)
	client := cloudformation.NewClient(mototest.Config(t, endpoint), nil)
	api := &countingAPI{API: client}
	s, err := cloudformation.New(cloudformation.Options{
		Client: api, Catalog: sqsCatalog(t), Templates: sqsTemplates(), BrokerID: "moto-test",
	}, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return &motoEnv{client: client, api: api, stacks: s}
}

func op(id string, kind provisioner.Kind) *provisioner.Operation {
	return &provisioner.Operation{ID: id, Kind: kind, State: provisioner.InProgress, CreatedAt: time.Now()}
}

func (e *motoEnv) observe(t *testing.T, inst *provisioner.Instance, o *provisioner.Operation) provisioner.Observation {
	t.Helper()
	obs, err := e.stacks.Observe(context.Background(), provisioner.ObserveRequest{Instance: inst, Operation: o})
	if err != nil {
		t.Fatalf("Observe %s: %v", o.Kind, err)
	}
	return obs
}

func (e *motoEnv) parameter(t *testing.T, stackID, key string) string {
	t.Helper()
	out, err := e.client.DescribeStacks(context.Background(), &cfn.DescribeStacksInput{StackName: aws.String(stackID)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Stacks[0].Parameters {
		if aws.ToString(p.ParameterKey) == key {
			return aws.ToString(p.ParameterValue)
		}
	}
	return ""
}

// TestMotoLifecycle provisions, repeats the create, updates partially,
// updates with nothing to change, deprovisions and deprovisions again,
// checking each step in moto itself.
func TestMotoLifecycle(t *testing.T) {
	t.Parallel()
	e := newMoto(t)
	ctx := context.Background()
	inst := &provisioner.Instance{
		ID: unique("life"), ServiceID: sqsServiceID, PlanID: sqsPlanID,
		Parameters: map[string]any{"Retention": json.Number("1209600"), "Label": "blue"},
		Context:    map[string]any{"platform": "cloudfoundry", "organization_guid": "org-1", "space_guid": "space-1"},
	}

	create := op(unique("p"), provisioner.KindProvision)
	st, err := e.stacks.Create(ctx, create, inst)
	if err != nil || st.Resource == "" || st.Done {
		t.Fatalf("Create = %+v, %v", st, err)
	}
	inst.Resource = st.Resource
	obs := e.observe(t, inst, create)
	if obs.State != provisioner.Succeeded || obs.Status != "CREATE_COMPLETE" || obs.Outputs["QueueURL"] == "" || obs.Outputs["QueueARN"] == "" {
		t.Fatalf("after create: %+v; want succeeded with QueueURL and QueueARN", obs)
	}
	if got := e.parameter(t, st.Resource, "Retention"); got != "1209600" {
		t.Errorf("Retention in moto = %q, want 1209600 exactly", got)
	}

	// The same create again (a crash before it was recorded): moto ignores
	// tokens and says AlreadyExists; the stack is ours, so it is success.
	again, err := e.stacks.Create(ctx, create, &provisioner.Instance{ID: inst.ID, ServiceID: inst.ServiceID, PlanID: inst.PlanID, Parameters: inst.Parameters})
	if err != nil || again.Resource != st.Resource {
		t.Fatalf("repeated Create = %+v, %v; want the same stack %s", again, err, st.Resource)
	}
	name, _ := e.stacks.StackName(inst)
	if n := countStacks(t, e.client, name); n != 1 {
		t.Errorf("%d live stacks named %s, want 1", n, name)
	}

	// A partial update: only Retention; Label keeps its value.
	update := op(unique("u"), provisioner.KindUpdate)
	st2, err := e.stacks.Update(ctx, update, inst, provisioner.Change{Parameters: map[string]any{"Retention": float64(345600)}})
	if err != nil || st2.Done {
		t.Fatalf("Update = %+v, %v", st2, err)
	}
	if obs := e.observe(t, inst, update); obs.State != provisioner.Succeeded || obs.Status != "UPDATE_COMPLETE" || obs.Outputs["QueueURL"] == "" {
		t.Errorf("after update: %+v", obs)
	}
	if got := e.parameter(t, st.Resource, "Retention"); got != "345600" {
		t.Errorf("Retention after update = %q, want 345600", got)
	}
	if got := e.parameter(t, st.Resource, "Label"); got != "blue" {
		t.Errorf("Label after update = %q, want blue (UsePreviousValue)", got)
	}

	// Nothing to change.
	st3, err := e.stacks.Update(ctx, op(unique("u"), provisioner.KindUpdate), inst, provisioner.Change{Parameters: map[string]any{"Label": "blue"}})
	if err != nil || !st3.Done {
		t.Errorf("Update changing nothing = %+v, %v; want done", st3, err)
	}

	del := op(unique("d"), provisioner.KindDeprovision)
	st4, err := e.stacks.Delete(ctx, del, inst)
	if err != nil || st4.Done || st4.Resource != st.Resource {
		t.Fatalf("Delete = %+v, %v", st4, err)
	}
	if obs := e.observe(t, inst, del); obs.State != provisioner.Succeeded || obs.Status != "DELETE_COMPLETE" {
		t.Errorf("after delete: %+v", obs)
	}
	if n := countStacks(t, e.client, name); n != 0 {
		t.Errorf("%d live stacks named %s after delete", n, name)
	}
	st5, err := e.stacks.Delete(ctx, op(unique("d"), provisioner.KindDeprovision), inst)
	if err != nil || !st5.Done {
		t.Errorf("second Delete = %+v, %v; want done", st5, err)
	}
	// And by name, for an instance that never recorded a stack ID.
	st6, err := e.stacks.Delete(ctx, op(unique("d"), provisioner.KindDeprovision), &provisioner.Instance{ID: inst.ID, ServiceID: inst.ServiceID, PlanID: inst.PlanID})
	if err != nil || !st6.Done {
		t.Errorf("Delete by name of a deleted stack = %+v, %v; want done", st6, err)
	}
}

// countStacks counts the live stacks named name.
func countStacks(t *testing.T, c *cfn.Client, name string) int {
	t.Helper()
	n := 0
	p := cfn.NewDescribeStacksPaginator(c, &cfn.DescribeStacksInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Stacks {
			if aws.ToString(s.StackName) == name && s.StackStatus != types.StackStatusDeleteComplete {
				n++
			}
		}
	}
	return n
}

func TestMotoObserveBatch(t *testing.T) {
	t.Parallel()
	e := newMoto(t, func(o *cloudformation.Options) { o.BatchMin = 20 })
	ctx := context.Background()
	const n = 60
	prefix := unique("batch")
	reqs := make([]provisioner.ObserveRequest, n)
	for i := range reqs {
		inst := &provisioner.Instance{ID: fmt.Sprintf("%s-%02d", prefix, i), ServiceID: sqsServiceID, PlanID: sqsPlanID,
			Parameters: map[string]any{"Retention": 60 + i, "Label": "x"}}
		o := op(unique("p"), provisioner.KindProvision)
		st, err := e.stacks.Create(ctx, o, inst)
		if err != nil {
			t.Fatal(err)
		}
		inst.Resource = st.Resource
		reqs[i] = provisioner.ObserveRequest{Instance: inst, Operation: o}
	}
	// One deleted: observed by ID, outside the listing.
	del := op(unique("d"), provisioner.KindDeprovision)
	if _, err := e.stacks.Delete(ctx, del, reqs[0].Instance); err != nil {
		t.Fatal(err)
	}
	reqs[0].Operation = del

	byName, all := e.api.describeByName.Load(), e.api.describeAll.Load()
	obs, errs := e.stacks.ObserveBatch(ctx, reqs)
	for i := range reqs {
		if errs[i] != nil || obs[i].State != provisioner.Succeeded {
			t.Errorf("stack %d: %+v, %v; want succeeded", i, obs[i], errs[i])
		}
		if i > 0 && obs[i].Outputs["QueueURL"] == "" {
			t.Errorf("stack %d: no outputs", i)
		}
	}
	if got := e.api.describeByName.Load() - byName; got != 1 {
		t.Errorf("%d DescribeStacks by stack, want 1 (the deleted stack)", got)
	}
	if got := e.api.describeAll.Load() - all; got < 2 {
		t.Errorf("%d listing pages, want at least 2 (moto pages by 50)", got)
	}
}

func TestMotoValidationErrors(t *testing.T) {
	t.Parallel()
	e := newMoto(t)
	ctx := context.Background()
	// A missing parameter: CloudFormation's ValidationError, terminal.
	inst := &provisioner.Instance{ID: unique("invalid"), ServiceID: sqsServiceID, PlanID: sqsPlanID,
		Parameters: map[string]any{"Label": "only"}}
	_, err := e.stacks.Create(ctx, op(unique("p"), provisioner.KindProvision), inst)
	var te *provisioner.TerminalError
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
		t.Errorf("Create without a required parameter: %v, want terminal ReasonInvalid", err)
	}
	// An update of a stack that does not exist.
	inst.Resource = "arn:aws:cloudformation:us-east-1:123456789012:stack/" + unique("nope") + "/x"
	_, err = e.stacks.Update(ctx, op(unique("u"), provisioner.KindUpdate), inst, provisioner.Change{})
	if !errors.Is(err, cloudformation.ErrStackNotFound) || !errors.As(err, &te) || te.Reason != provisioner.ReasonRefused {
		t.Errorf("Update of a missing stack: %v, want terminal ErrStackNotFound", err)
	}
	obs := e.observe(t, inst, op(unique("p"), provisioner.KindProvision))
	if obs.State != provisioner.Failed {
		t.Errorf("Observe of a provision whose stack does not exist: %+v, want failed", obs)
	}
}

// TestMotoTerminationProtection: moto stores the flag (and would delete
// anyway); Delete reads it and refuses.
func TestMotoTerminationProtection(t *testing.T) {
	t.Parallel()
	e := newMoto(t, func(o *cloudformation.Options) { o.TerminationProtection = true })
	ctx := context.Background()
	inst := &provisioner.Instance{ID: unique("protected"), ServiceID: sqsServiceID, PlanID: sqsPlanID,
		Parameters: map[string]any{"Retention": 60, "Label": "x"}}
	st, err := e.stacks.Create(ctx, op(unique("p"), provisioner.KindProvision), inst)
	if err != nil {
		t.Fatal(err)
	}
	inst.Resource = st.Resource
	_, err = e.stacks.Delete(ctx, op(unique("d"), provisioner.KindDeprovision), inst)
	var te *provisioner.TerminalError
	if !errors.Is(err, cloudformation.ErrTerminationProtected) || !errors.As(err, &te) || te.Reason != provisioner.ReasonRefused {
		t.Errorf("Delete of a protected stack: %v, want terminal ErrTerminationProtected", err)
	}
	// Clean up behind the refusal, directly.
	if _, err := e.client.DeleteStack(ctx, &cfn.DeleteStackInput{StackName: aws.String(st.Resource)}); err != nil {
		t.Error(err)
	}
}
