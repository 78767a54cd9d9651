package reconciler_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
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
// Ready. Then a binding gets its access key, and after another restart,
// with the Secret deleted meanwhile, the new process writes the same key
// again from the secret sealed in bindings.db (which does not hold it in
// the clear), and creates none.
func TestRestartMidProvision(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := t.Context()
	f, srv := provisionertest.NewServer(t, provisionertest.Options{
		Script: func(op provisionertest.Op) provisionertest.Script {
			if strings.HasPrefix(op.StackName, "rst-bind") {
				return provisionertest.Script{Delay: 100 * time.Millisecond, Outputs: userOutputs}
			}
			return provisionertest.Script{Delay: 5 * time.Second, Outputs: queueOutputs}
		},
	})
	k := newClient(t)
	ns := newNamespace(t, k)
	keys := &fakeIAM{}
	cfg := controllerConfig{Namespace: ns, CFN: f.Config(srv.URL), IAM: keys, StateDir: t.TempDir(), StackPrefix: "rst"}
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

	second := startController(t, cfg)
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, 30*time.Second)
	if n := f.Calls()["CreateStack"]; n != 1 {
		t.Errorf("%d CreateStack calls, want 1 across the restart", n)
	}

	// A binding, its key, and a restart with the Secret gone.
	sb := &v1alpha1.ServiceBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slow-binding"},
		Spec:       v1alpha1.ServiceBindingSpec{InstanceRef: corev1.LocalObjectReference{Name: si.Name}},
	}
	if err := k.Create(ctx, sb); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, sb, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, 30*time.Second)
	var before corev1.Secret
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sb.Name}, &before); err != nil {
		t.Fatal(err)
	}
	user := userOutputs["UserName"]
	keyID, secret := string(before.Data["AccessKeyId"]), string(before.Data["SecretAccessKey"])
	if want := keys.keys(user); len(want) != 1 || want[0] != keyID || secret == "" || keys.secret(keyID) != secret {
		t.Fatalf("Secret has key %q (secret set: %v); IAM has %v for %s", keyID, secret != "", want, user)
	}
	if sb.Status.AccessKeyID != keyID {
		t.Errorf("status.accessKeyID %q, want %q", sb.Status.AccessKeyID, keyID)
	}
	second.stop(t)
	db, err := os.ReadFile(filepath.Join(cfg.StateDir, "bindings.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(db, []byte(keyID)) {
		t.Error("bindings.db does not hold the key's ID: is this the right file?")
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Error("bindings.db holds the SecretAccessKey in the clear; want it sealed")
	}
	if err := k.Delete(ctx, &before); err != nil {
		t.Fatal(err)
	}

	startController(t, cfg)
	eventually(t, 30*time.Second, "the Secret written again", func(ctx context.Context) (bool, string) {
		var after corev1.Secret
		if err := k.Get(ctx, client.ObjectKeyFromObject(&before), &after); err != nil {
			return false, err.Error()
		}
		if after.UID == before.UID {
			return false, "the deleted Secret is still there"
		}
		if string(after.Data["AccessKeyId"]) != keyID || string(after.Data["SecretAccessKey"]) != secret {
			t.Fatalf("Secret after the restart has key %q (same secret: %v); want %q and its secret, from the store",
				after.Data["AccessKeyId"], string(after.Data["SecretAccessKey"]) == secret, keyID)
		}
		return true, ""
	})
	if n := keys.created(); n != 1 {
		t.Errorf("%d CreateAccessKey calls, want 1 across the restarts", n)
	}

	// Unbind: the wrapper deletes the key before the stack's delete.
	if err := k.Delete(ctx, sb); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, sb, 30*time.Second)
	if left := keys.keys(user); len(left) != 0 {
		t.Errorf("user %s has keys %v after unbind", user, left)
	}
	if err := k.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, si, 30*time.Second)
}

// userOutputs are the outputs the scripted fake gives a binding's stack.
var userOutputs = map[string]string{
	"UserName": "rst-user",
	"UserARN":  "arn:aws:iam::123456789012:user/rst-user",
}

// fakeIAM is the access-key part of IAM (accesskeys.API) in memory. It does
// not model users: every user name exists and has no keys until one is
// created; there are no quotas (AWS allows two keys per user) and no
// pagination.
type fakeIAM struct {
	mu      sync.Mutex
	byUser  map[string][]string
	secrets map[string]string
	n       int
}

var _ accesskeys.API = (*fakeIAM)(nil)

func (f *fakeIAM) CreateAccessKey(_ context.Context, in *iam.CreateAccessKeyInput, _ ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id, secret := fmt.Sprintf("AKIAFAKE%08d", f.n), fmt.Sprintf("fake-secret-%d-%d", f.n, time.Now().UnixNano())
	if f.byUser == nil {
		f.byUser, f.secrets = map[string][]string{}, map[string]string{}
	}
	user := aws.ToString(in.UserName)
	f.byUser[user] = append(f.byUser[user], id)
	f.secrets[id] = secret
	return &iam.CreateAccessKeyOutput{AccessKey: &iamtypes.AccessKey{
		UserName: in.UserName, AccessKeyId: aws.String(id), SecretAccessKey: aws.String(secret),
		Status: iamtypes.StatusTypeActive,
	}}, nil
}

func (f *fakeIAM) DeleteAccessKey(_ context.Context, in *iam.DeleteAccessKeyInput, _ ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, id := aws.ToString(in.UserName), aws.ToString(in.AccessKeyId)
	i := slices.Index(f.byUser[user], id)
	if i < 0 {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("The Access Key with id " + id + " cannot be found.")}
	}
	f.byUser[user] = slices.Delete(f.byUser[user], i, i+1)
	delete(f.secrets, id)
	return &iam.DeleteAccessKeyOutput{}, nil
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &iam.ListAccessKeysOutput{}
	for _, id := range f.byUser[aws.ToString(in.UserName)] {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, iamtypes.AccessKeyMetadata{
			UserName: in.UserName, AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeActive})
	}
	return out, nil
}

// keys returns the IDs of user's keys.
func (f *fakeIAM) keys(user string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.byUser[user])
}

// secret returns the secret of key id.
func (f *fakeIAM) secret(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[id]
}

// created counts the keys created.
func (f *fakeIAM) created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
