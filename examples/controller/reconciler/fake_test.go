package reconciler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// queueOutputs are the outputs the scripted fake gives an instance's stack.
var queueOutputs = map[string]string{
	"QueueURL":  "https://sqs.us-east-1.amazonaws.com/123456789012/q",
	"QueueARN":  "arn:aws:sqs:us-east-1:123456789012:q",
	"QueueName": "q",
}

func newInstance(ns, name string, params string) *v1alpha1.ServiceInstance {
	si := &v1alpha1.ServiceInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ServiceInstanceSpec{Service: "sqs", Plan: "standard"},
	}
	if params != "" {
		si.Spec.Parameters = &runtime.RawExtension{Raw: []byte(params)}
	}
	return si
}

// TestProvisionFailed: a stack that rolls back makes the instance Stalled
// with reason ProvisionFailed and the failing resource's reason as the
// message; nothing is retried until the spec changes, and then the failed
// stack is deleted and the new spec provisioned. Deleting the instance
// deletes the stack and removes the finalizer.
func TestProvisionFailed(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := t.Context()
	const rootCause = "API: sqs:CreateQueue Access to the resource https://sqs.us-east-1.amazonaws.com/ is denied."
	f, srv := provisionertest.NewServer(t, provisionertest.Options{
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" && op.Attempt == 1 {
				return provisionertest.Script{Delay: 200 * time.Millisecond, Fail: true, RollbackDelay: 100 * time.Millisecond,
					FailedResources: []provisionertest.ResourceFailure{
						{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: rootCause},
					}}
			}
			return provisionertest.Script{Delay: 100 * time.Millisecond, Outputs: queueOutputs}
		},
	})
	k := newClient(t)
	ns := newNamespace(t, k)
	startController(t, controllerConfig{Namespace: ns, CFN: f.Config(srv.URL), StateDir: t.TempDir(), StackPrefix: "fail"})

	si := newInstance(ns, "doomed", "")
	if err := k.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonProvisionFailed, 30*time.Second)
	ready := meta.FindStatusCondition(si.Status.Conditions, v1alpha1.ConditionReady)
	stalled := meta.FindStatusCondition(si.Status.Conditions, v1alpha1.ConditionStalled)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonProvisionFailed {
		t.Errorf("Ready %+v, want False ProvisionFailed", ready)
	}
	if !strings.Contains(stalled.Message, rootCause) || !strings.Contains(ready.Message, rootCause) {
		t.Errorf("messages %q / %q, want the root cause %q", ready.Message, stalled.Message, rootCause)
	}
	if si.Status.ObservedGeneration != si.Generation || stalled.ObservedGeneration != si.Generation {
		t.Errorf("observedGeneration %d / %d, generation %d", si.Status.ObservedGeneration, stalled.ObservedGeneration, si.Generation)
	}
	// Terminal: no new CreateStack while the spec stays as it is.
	time.Sleep(time.Second)
	if n := f.Calls()["CreateStack"]; n != 1 {
		t.Errorf("%d CreateStack calls, want 1: a terminal failure is not retried", n)
	}

	// A spec change: the failed stack is deleted, the new spec provisioned.
	base := si.DeepCopy()
	si.Spec.Parameters = &runtime.RawExtension{Raw: []byte(`{"VisibilityTimeout": 60}`)}
	if err := k.Patch(ctx, si, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, 30*time.Second)
	if c := meta.FindStatusCondition(si.Status.Conditions, v1alpha1.ConditionStalled); c != nil {
		t.Errorf("still stalled: %+v", c)
	}
	if si.Generation != 2 || si.Status.Operation.Generation != 2 {
		t.Errorf("generation %d, operation %+v", si.Generation, si.Status.Operation)
	}
	calls := f.Calls()
	if calls["CreateStack"] != 2 || calls["DeleteStack"] != 1 {
		t.Errorf("calls %v, want 2 CreateStack and 1 DeleteStack", calls)
	}

	if err := k.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, si, 30*time.Second)
	for _, st := range f.Stacks() {
		if st.Status != "DELETE_COMPLETE" {
			t.Errorf("stack %s is %s", st.Name, st.Status)
		}
	}
}

// TestInvalidSpec: an unknown plan and parameters that break the plan's
// schema are terminal (Stalled InvalidSpec) and start nothing.
func TestInvalidSpec(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := t.Context()
	f, srv := provisionertest.NewServer(t, provisionertest.Options{})
	k := newClient(t)
	ns := newNamespace(t, k)
	startController(t, controllerConfig{Namespace: ns, CFN: f.Config(srv.URL), StateDir: t.TempDir(), StackPrefix: "inv"})

	tests := []struct {
		name, plan, params, want string
	}{
		{"unknown-plan", "gold", "", `no plan "gold"`},
		{"bad-parameter", "standard", `{"VisibilityTimeout": 99999}`, "VisibilityTimeout"},
		{"unknown-parameter", "standard", `{"Nope": 1}`, "Nope"},
	}
	for _, tt := range tests {
		si := newInstance(ns, tt.name, tt.params)
		si.Spec.Plan = tt.plan
		if err := k.Create(ctx, si); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, k, si, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, 30*time.Second)
		if c := meta.FindStatusCondition(si.Status.Conditions, v1alpha1.ConditionStalled); !strings.Contains(c.Message, tt.want) {
			t.Errorf("%s: message %q, want it to mention %q", tt.name, c.Message, tt.want)
		}
		if err := k.Delete(ctx, si); err != nil {
			t.Fatal(err)
		}
		waitGone(t, k, si, 30*time.Second)
	}
	if n := f.CallsTotal(); n != 0 {
		t.Errorf("%d CloudFormation calls, want none: %v", n, f.Calls())
	}
}

// TestBackendErrorRecovers: while CloudFormation answers CreateStack with
// throttling, the instance reports the recoverable reason BackendError
// (never Stalled); once it answers, the instance becomes Ready.
func TestBackendErrorRecovers(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := t.Context()
	var healthy atomic.Bool
	f, srv := provisionertest.NewServer(t, provisionertest.Options{
		Script: func(provisionertest.Op) provisionertest.Script {
			return provisionertest.Script{Delay: 100 * time.Millisecond, Outputs: queueOutputs}
		},
		Fault: func(c provisionertest.Call) *provisionertest.Fault {
			if c.Action == "CreateStack" && !healthy.Load() {
				return provisionertest.Throttling()
			}
			return nil
		},
	})
	k := newClient(t)
	ns := newNamespace(t, k)
	startController(t, controllerConfig{Namespace: ns, CFN: f.Config(srv.URL), StateDir: t.TempDir(), StackPrefix: "thr"})

	si := newInstance(ns, "throttled", "")
	if err := k.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBackendError, 30*time.Second)
	if c := meta.FindStatusCondition(si.Status.Conditions, v1alpha1.ConditionStalled); c != nil {
		t.Errorf("stalled on a recoverable error: %+v", c)
	}
	healthy.Store(true)
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, time.Minute)
	if err := k.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, si, 30*time.Second)
}

// TestRestartMidProvision stops the manager while a slow stack is being
// created and starts a new one on the same bolt files: the new process
// resumes the operation (one CreateStack in all) and the instance becomes
// Ready.
func TestRestartMidProvision(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := t.Context()
	f, srv := provisionertest.NewServer(t, provisionertest.Options{
		Script: func(provisionertest.Op) provisionertest.Script {
			return provisionertest.Script{Delay: 5 * time.Second, Outputs: queueOutputs}
		},
	})
	k := newClient(t)
	ns := newNamespace(t, k)
	cfg := controllerConfig{Namespace: ns, CFN: f.Config(srv.URL), StateDir: t.TempDir(), StackPrefix: "rst"}
	first := startController(t, cfg)

	si := newInstance(ns, "slow", "")
	if err := k.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProvisioning, 30*time.Second)
	eventually(t, 10*time.Second, "the stack is being created", func(context.Context) (bool, string) {
		stacks := f.Stacks()
		return len(stacks) == 1 && stacks[0].Status == "CREATE_IN_PROGRESS", ""
	})
	first.stop(t)
	if stacks := f.Stacks(); stacks[0].Status != "CREATE_IN_PROGRESS" {
		t.Fatalf("the stack is %s when the first manager has stopped: the restart happened too late to test anything", stacks[0].Status)
	}
	var mid v1alpha1.ServiceInstance
	if err := k.Get(ctx, client.ObjectKeyFromObject(si), &mid); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(mid.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("Ready %+v before the restart", c)
	}

	startController(t, cfg)
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, 30*time.Second)
	if n := f.Calls()["CreateStack"]; n != 1 {
		t.Errorf("%d CreateStack calls, want 1 across the restart", n)
	}
	if err := k.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, si, 30*time.Second)
}
