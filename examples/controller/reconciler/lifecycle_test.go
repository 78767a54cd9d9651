package reconciler_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/examples/controller/templates"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
)

// TestSQSLifecycle is the walkthrough's steps 6 to 8 on a real API server
// and moto: a ServiceInstance for SQS standard becomes Ready, a
// ServiceBinding writes a servicebinding.io Secret with QueueURL and
// QueueARN and an access key that sends and receives on the queue;
// deleting the binding deletes the Secret and revokes the key, deleting the
// instance deletes its stack.
func TestSQSLifecycle(t *testing.T) {
	needKube(t)
	endpoint := motoEndpoint(t)
	t.Parallel()
	ctx := t.Context()
	awsCfg := motoConfig(endpoint)
	k := newClient(t)
	ns := newNamespace(t, k)
	users := iam.NewFromConfig(awsCfg)
	revoked := &revokeRecorder{users: users}
	startController(t, controllerConfig{Namespace: ns, CFN: awsCfg, IAM: users, StateDir: t.TempDir(), StackPrefix: "ctl",
		WrapStacks: func(s *cloudformation.Stacks) provisioner.Provisioner { revoked.Stacks = s; return revoked }})

	si := &v1alpha1.ServiceInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "opensource-blog-sqs-demo"},
		Spec: v1alpha1.ServiceInstanceSpec{Service: "sqs", Plan: "standard",
			Parameters: &runtime.RawExtension{Raw: []byte(`{"VisibilityTimeout": 45}`)}},
	}
	if err := k.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, time.Minute)
	if !slices.Contains(si.Finalizers, v1alpha1.Finalizer) {
		t.Errorf("finalizers %v, want %s", si.Finalizers, v1alpha1.Finalizer)
	}
	if si.Status.InstanceID != string(si.UID) || si.Status.Operation == nil || si.Status.Operation.Kind != "provision" {
		t.Errorf("status %+v", si.Status)
	}

	sb := &v1alpha1.ServiceBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "os-blog-sqs-binding"},
		Spec:       v1alpha1.ServiceBindingSpec{InstanceRef: corev1.LocalObjectReference{Name: si.Name}},
	}
	if err := k.Create(ctx, sb); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, sb, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, time.Minute)

	// The Secret, read from the API server.
	var secret corev1.Secret
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "os-blog-sqs-binding"}, &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Type != "servicebinding.io/sqs" {
		t.Errorf("Secret type %q, want servicebinding.io/sqs", secret.Type)
	}
	if !metav1.IsControlledBy(&secret, sb) {
		t.Errorf("Secret owners %+v, want the ServiceBinding as controller", secret.OwnerReferences)
	}
	for _, key := range []string{"QueueURL", "QueueARN", "QueueName", "UserName", "UserARN", "AccessKeyId", "SecretAccessKey", "type", "provider"} {
		if len(secret.Data[key]) == 0 {
			t.Errorf("Secret key %s missing; keys %v", key, keys(secret.Data))
		}
	}
	if got := string(secret.Data["type"]) + "/" + string(secret.Data["provider"]); got != "sqs/aws" {
		t.Errorf("type/provider %s, want sqs/aws", got)
	}
	if sb.Status.Binding == nil || sb.Status.Binding.Name != secret.Name || sb.Status.AccessKeyID != string(secret.Data["AccessKeyId"]) {
		t.Errorf("binding status %+v", sb.Status)
	}
	queueURL, queueARN, user := string(secret.Data["QueueURL"]), string(secret.Data["QueueARN"]), string(secret.Data["UserName"])
	checkUserPolicy(t, users, user, queueARN)

	// The pod's view: the queue, with the key from the Secret.
	appCfg := motoConfig(endpoint)
	appCfg.Credentials = credentials.NewStaticCredentialsProvider(string(secret.Data["AccessKeyId"]), string(secret.Data["SecretAccessKey"]), "")
	q := sqs.NewFromConfig(appCfg)
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("hello from the walkthrough")}); err != nil {
		t.Fatal(err)
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "hello from the walkthrough" {
		t.Fatalf("received %+v", got.Messages)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: []sqsAttr{"VisibilityTimeout"}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "45" {
		t.Errorf("VisibilityTimeout %v %v, want the spec's 45", attrs, err)
	}
	keyID := string(secret.Data["AccessKeyId"])
	if ids := accessKeys(t, users, user); !slices.Equal(ids, []string{keyID}) {
		t.Errorf("user %s has keys %v, want exactly the Secret's %s", user, ids, keyID)
	}

	// Deleting the instance waits for its binding.
	if err := k.Delete(ctx, si); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, k, si, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBindingsExist, 30*time.Second)

	// Unbind: the Secret goes, the key and the user with it.
	if err := k.Delete(ctx, sb); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, sb, time.Minute)
	waitGone(t, k, &secret, 10*time.Second)
	// moto deletes a user together with its keys (AWS refuses to), so
	// that the key is gone afterwards shows nothing: the recorder looked
	// when the accesskeys wrapper had deleted the keys and called the
	// stack's delete, before it ran.
	if after, ok := revoked.after(user); !ok || len(after) != 0 {
		t.Errorf("stack delete seen %v, keys the user had then %v; want none left by the wrapper", ok, after)
	}
	if _, err := users.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)}); !isNoSuchEntity(err) {
		t.Errorf("ListAccessKeys %s after unbind: %v; want NoSuchEntity", user, err)
	}
	if _, err := users.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)}); !isNoSuchEntity(err) {
		t.Errorf("GetUser %s after unbind: %v; want NoSuchEntity", user, err)
	}

	// Then the instance goes: its stack is deleted in moto, the finalizer
	// removed.
	waitGone(t, k, si, time.Minute)
	stacks, err := cfn.NewFromConfig(awsCfg).ListStacks(ctx, &cfn.ListStacksInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, s := range stacks.StackSummaries {
		if strings.Contains(aws.ToString(s.StackName), string(si.UID)) {
			found++
			if s.StackStatus != "DELETE_COMPLETE" {
				t.Errorf("stack %s is %s after the instance was deleted", aws.ToString(s.StackName), s.StackStatus)
			}
		}
	}
	if found != 1 {
		t.Errorf("found %d stacks of the instance, want 1", found)
	}
	if _, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL)}); err == nil {
		t.Errorf("the queue %s still exists", queueURL)
	}
}

type sqsAttr = sqstypes.QueueAttributeName

// waitCondition waits until obj's condition typ has status and reason for
// obj's current generation, and leaves obj as last read.
func waitCondition(t *testing.T, k client.Client, obj client.Object, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s %s: %s=%s (%s)", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), typ, status, reason),
		func(ctx context.Context) (bool, string) {
			if err := k.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(conditionsOf(obj), typ)
			if c == nil {
				return false, fmt.Sprintf("no %s condition; conditions %+v", typ, conditionsOf(obj))
			}
			ok := c.Status == status && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration()
			return ok, fmt.Sprintf("%+v", conditionsOf(obj))
		})
}

func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *v1alpha1.ServiceInstance:
		return o.Status.Conditions
	case *v1alpha1.ServiceBinding:
		return o.Status.Conditions
	}
	return nil
}

// waitGone waits until obj no longer exists.
func waitGone(t *testing.T, k client.Client, obj client.Object, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%T %s gone", obj, obj.GetName()), func(ctx context.Context) (bool, string) {
		err := k.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("err %v, finalizers %v, deletion %v", err, obj.GetFinalizers(), obj.GetDeletionTimestamp())
	})
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func accessKeys(t *testing.T, users *iam.Client, user string) []string {
	t.Helper()
	out, err := users.ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("ListAccessKeys %s: %v", user, err)
	}
	var ids []string
	for _, m := range out.AccessKeyMetadata {
		ids = append(ids, aws.ToString(m.AccessKeyId))
	}
	return ids
}

func isNoSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse)
}

// checkUserPolicy fails t unless the binding's IAM user has the inline
// policy allowing exactly the four queue actions on queueARN.
func checkUserPolicy(t *testing.T, users *iam.Client, user, queueARN string) {
	t.Helper()
	pol, err := users.GetUserPolicy(t.Context(), &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(templates.PolicyName)})
	if err != nil {
		t.Fatalf("GetUserPolicy %s: %v", user, err)
	}
	doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	actions := regexp.MustCompile(`"Action":\s*\[\s*"sqs:SendMessage",\s*"sqs:ReceiveMessage",\s*"sqs:DeleteMessage",\s*"sqs:ChangeMessageVisibility"\s*\]`)
	if !actions.MatchString(doc) || !regexp.MustCompile(`"Resource":\s*"`+regexp.QuoteMeta(queueARN)+`"`).MatchString(doc) {
		t.Errorf("policy of %s: %s; want the four queue actions on %s", user, doc, queueARN)
	}
}

// revokeRecorder sits between the accesskeys wrapper and the bindings'
// stacks: at each stack delete it lists the keys the user has in IAM, which
// the wrapper should have deleted just before.
type revokeRecorder struct {
	*cloudformation.Stacks
	users *iam.Client
	mu    sync.Mutex
	left  map[string][]string
}

func (r *revokeRecorder) Delete(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	if user := inst.Outputs[accesskeys.DefaultUserOutput]; user != "" {
		out, err := r.users.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			return provisioner.Start{}, err
		}
		ids := []string{}
		for _, m := range out.AccessKeyMetadata {
			ids = append(ids, aws.ToString(m.AccessKeyId))
		}
		r.mu.Lock()
		if r.left == nil {
			r.left = map[string][]string{}
		}
		r.left[user] = ids
		r.mu.Unlock()
	}
	return r.Stacks.Delete(ctx, op, inst)
}

// after returns the keys user had at its last stack delete.
func (r *revokeRecorder) after(user string) ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ok := r.left[user]
	return ids, ok
}
