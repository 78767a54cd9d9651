package integration

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
)

// TestMotoConversation plays a platform's whole conversation with the
// broker over HTTP — provision, poll, fetch, update, poll, deprovision,
// poll, deprovision again — against moto's CloudFormation, and after each
// step looks at the stack and the queue in moto itself.
//
// moto finishes stacks synchronously, so every operation is already done
// when the Tracker first polls it; the scripted fake covers slow stacks.
func TestMotoConversation(t *testing.T) {
	t.Parallel()
	endpoint := mototest.Endpoint(t)
	awsCfg := mototest.Config(t, endpoint)
	const prefix = "itconv" // moto is shared by the package's tests
	b := startBroker(t, brokerConfig{AWS: awsCfg, StackPrefix: prefix})
	c, ctx := b.Client, t.Context()

	// Moto's own view, through clients of its own.
	cf := cfn.NewFromConfig(awsCfg)
	queues := sqs.NewFromConfig(awsCfg)

	id := brokertest.NewUUID()
	stackName := cloudformation.StackName(prefix, "sqs", id)

	// Provision. Both parameters are given although the template has a
	// default for MessageRetentionPeriod: moto 5.2 fails an UpdateStack
	// (HTTP 500, KeyError) that asks UsePreviousValue for a parameter the
	// create left to its default, and the update below keeps that
	// parameter's previous value. Real CloudFormation accepts it.
	params := broker.Parameters{"VisibilityTimeout": 45, "MessageRetentionPeriod": 345600}
	resp, err := c.Provision(ctx, provisionRequest(id, params))
	expectStatus(t, "provision", resp, err, http.StatusAccepted)
	if resp.Value.Operation == "" {
		t.Fatal("provision: 202 without an operation")
	}
	awaitOperation(t, c, id, resp.Value.Operation)

	got, err := c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: id, ServiceID: sqsServiceID, PlanID: standardPlanID})
	expectStatus(t, "fetch after provision", got, err, http.StatusOK)
	if got.Value.ServiceID != sqsServiceID || got.Value.PlanID != standardPlanID {
		t.Errorf("fetch: service %q plan %q, want %q %q", got.Value.ServiceID, got.Value.PlanID, sqsServiceID, standardPlanID)
	}
	checkNumbers(t, "fetch after provision", got.Value.Parameters, map[string]float64{"VisibilityTimeout": 45, "MessageRetentionPeriod": 345600})

	stack := describeStack(t, cf, stackName)
	if stack.StackStatus != types.StackStatusCreateComplete {
		t.Fatalf("after provision: stack %s is %s, want CREATE_COMPLETE", stackName, stack.StackStatus)
	}
	stackID := aws.ToString(stack.StackId)

	// Update VisibilityTimeout only.
	up, err := c.Update(ctx, brokertest.UpdateRequest{
		InstanceID: id, ServiceID: sqsServiceID, Parameters: broker.Parameters{"VisibilityTimeout": 120},
		PreviousValues: &brokertest.PreviousValues{PlanID: standardPlanID}, AcceptsIncomplete: true,
	})
	expectStatus(t, "update", up, err, http.StatusAccepted)
	awaitOperation(t, c, id, up.Value.Operation)

	got, err = c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: id})
	expectStatus(t, "fetch after update", got, err, http.StatusOK)
	checkNumbers(t, "fetch after update", got.Value.Parameters, map[string]float64{"VisibilityTimeout": 120, "MessageRetentionPeriod": 345600})

	// In moto: the same stack, updated, with the new value, the old value
	// kept, the outputs, and the tag that makes it the instance's.
	stack = describeStack(t, cf, stackID)
	if stack.StackStatus != types.StackStatusUpdateComplete {
		t.Errorf("after update: stack is %s, want UPDATE_COMPLETE", stack.StackStatus)
	}
	wantParams := map[string]string{"VisibilityTimeout": "120", "MessageRetentionPeriod": "345600"}
	if diff := cmp.Diff(wantParams, stackParameters(stack)); diff != "" {
		t.Errorf("after update: stack parameters (-want +got):\n%s", diff)
	}
	if tag := stackTag(stack, cloudformation.TagInstanceID); tag != id {
		t.Errorf("stack tag %s = %q, want %q", cloudformation.TagInstanceID, tag, id)
	}
	outputs := stackOutputs(stack)
	queueURL, queueARN := outputs["QueueURL"], outputs["QueueARN"]
	if !strings.Contains(queueURL, stackName) || !strings.HasPrefix(queueARN, "arn:aws:sqs:") {
		t.Fatalf("stack outputs: QueueURL %q, QueueARN %q; want a queue of stack %s", queueURL, queueARN, stackName)
	}

	// The Tracker's record: the stack ID and the outputs, read from the
	// stack when the update succeeded.
	rec, err := b.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Resource != stackID {
		t.Errorf("record's resource %q, want the stack ID %q", rec.Resource, stackID)
	}
	if diff := cmp.Diff(outputs, rec.Outputs); diff != "" {
		t.Errorf("record's outputs (-stack's +record's):\n%s", diff)
	}

	// In moto's SQS: the queue exists and has the new visibility timeout.
	attrs, err := queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes of the stack's queue: %v", err)
	}
	wantAttrs := map[string]string{"VisibilityTimeout": "120", "MessageRetentionPeriod": "345600", "QueueArn": queueARN}
	for k, v := range wantAttrs {
		if attrs.Attributes[k] != v {
			t.Errorf("queue attribute %s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
	if n := countQueues(t, queues, stackName); n != 1 {
		t.Errorf("moto has %d queues named after stack %s, want 1", n, stackName)
	}

	// Deprovision.
	del, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID, PlanID: standardPlanID, AcceptsIncomplete: true})
	expectStatus(t, "deprovision", del, err, http.StatusAccepted)
	awaitOperation(t, c, id, del.Value.Operation)

	// By stack ID, moto still shows the deleted stack; by name it is gone,
	// and so is its queue.
	if st := describeStack(t, cf, stackID); st.StackStatus != types.StackStatusDeleteComplete {
		t.Errorf("after deprovision: stack is %s, want DELETE_COMPLETE", st.StackStatus)
	}
	if _, err := cf.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(stackName)}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("DescribeStacks by name after deprovision: %v, want \"does not exist\"", err)
	}
	if n := countQueues(t, queues, stackName); n != 0 {
		t.Errorf("after deprovision moto still has %d queues of stack %s", n, stackName)
	}

	// The platform deletes again (it lost the answer): 410 Gone. Fetching
	// is 404, and last_operation still reports the delete (LI7).
	again, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID, PlanID: standardPlanID, AcceptsIncomplete: true})
	expectStatus(t, "second deprovision", again, err, http.StatusGone)
	gone, err := c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: id})
	expectStatus(t, "fetch after deprovision", gone, err, http.StatusNotFound)
	lo, err := c.LastOperation(ctx, brokertest.LastOperationRequest{InstanceID: id, Operation: del.Value.Operation})
	expectStatus(t, "last_operation after deprovision", lo, err, http.StatusOK)
	if lo.Value.State != broker.Succeeded {
		t.Errorf("last_operation after deprovision: %q, want succeeded", lo.Value.State)
	}
}

// TestMotoFIFOPlan provisions the FIFO plan, whose template names the
// queue after the stack, and deprovisions it.
func TestMotoFIFOPlan(t *testing.T) {
	t.Parallel()
	endpoint := mototest.Endpoint(t)
	awsCfg := mototest.Config(t, endpoint)
	const prefix = "itfifo"
	b := startBroker(t, brokerConfig{AWS: awsCfg, StackPrefix: prefix})
	c, ctx := b.Client, t.Context()

	id := brokertest.NewUUID()
	req := provisionRequest(id, broker.Parameters{"VisibilityTimeout": 10, "MessageRetentionPeriod": 3600})
	req.PlanID = fifoPlanID
	resp, err := c.Provision(ctx, req)
	expectStatus(t, "provision", resp, err, http.StatusAccepted)
	awaitOperation(t, c, id, resp.Value.Operation)

	rec, err := b.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	stackName := cloudformation.StackName(prefix, "sqs", id)
	if want := stackName + ".fifo"; !strings.HasSuffix(rec.Outputs["QueueURL"], "/"+want) {
		t.Errorf("QueueURL output %q, want a queue named %s", rec.Outputs["QueueURL"], want)
	}
	st := describeStack(t, cfn.NewFromConfig(awsCfg), rec.Resource)
	if tag := stackTag(st, cloudformation.TagTemplateID); tag != "sqs-fifo-v1" {
		t.Errorf("stack tag %s = %q, want the FIFO plan's template", cloudformation.TagTemplateID, tag)
	}

	del, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID, PlanID: fifoPlanID, AcceptsIncomplete: true})
	expectStatus(t, "deprovision", del, err, http.StatusAccepted)
	awaitOperation(t, c, id, del.Value.Operation)
}

// describeStack reads one stack from moto, by name or stack ID.
func describeStack(t *testing.T, cf *cfn.Client, nameOrID string) types.Stack {
	t.Helper()
	out, err := cf.DescribeStacks(t.Context(), &cfn.DescribeStacksInput{StackName: aws.String(nameOrID)})
	if err != nil {
		t.Fatalf("DescribeStacks %s: %v", nameOrID, err)
	}
	if len(out.Stacks) != 1 {
		t.Fatalf("DescribeStacks %s: %d stacks", nameOrID, len(out.Stacks))
	}
	return out.Stacks[0]
}

func stackParameters(st types.Stack) map[string]string {
	m := map[string]string{}
	for _, p := range st.Parameters {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return m
}

func stackOutputs(st types.Stack) map[string]string {
	m := map[string]string{}
	for _, o := range st.Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m
}

func stackTag(st types.Stack, key string) string {
	for _, tag := range st.Tags {
		if aws.ToString(tag.Key) == key {
			return aws.ToString(tag.Value)
		}
	}
	return ""
}

// countQueues counts moto's queues whose names start with prefix.
func countQueues(t *testing.T, queues *sqs.Client, prefix string) int {
	t.Helper()
	out, err := queues.ListQueues(t.Context(), &sqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	return len(out.QueueUrls)
}

// checkNumbers compares parameters that came back as JSON numbers.
func checkNumbers(t *testing.T, what string, got broker.Parameters, want map[string]float64) {
	t.Helper()
	g := map[string]float64{}
	for k, v := range got {
		f, err := number(v)
		if err != nil {
			t.Errorf("%s: parameter %s: %v", what, k, err)
			continue
		}
		g[k] = f
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("%s: parameters (-want +got):\n%s", what, diff)
	}
}

func number(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case interface{ Float64() (float64, error) }:
		return n.Float64()
	}
	return 0, errors.New("not a number")
}
