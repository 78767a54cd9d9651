package accesskeys_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
)

// fakeIAM keeps access keys per user. It models users that exist (a
// user not in users is NoSuchEntity), at most two keys per user, and an
// error hook per call; not policies or eventual consistency.
type fakeIAM struct {
	mu    sync.Mutex
	users map[string][]string // user → key IDs
	n     int
	fail  func(op string) error
	log   []string
}

func (f *fakeIAM) call(op string) error {
	f.log = append(f.log, op)
	if f.fail != nil {
		return f.fail(op)
	}
	return nil
}

func (f *fakeIAM) CreateAccessKey(_ context.Context, in *iam.CreateAccessKeyInput, _ ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateAccessKey"); err != nil {
		return nil, err
	}
	user := aws.ToString(in.UserName)
	keys, ok := f.users[user]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no user " + user)}
	}
	if len(keys) >= 2 {
		return nil, &iamtypes.LimitExceededException{Message: aws.String("two keys")}
	}
	f.n++
	id := fmt.Sprintf("AKIA%04d", f.n)
	f.users[user] = append(keys, id)
	return &iam.CreateAccessKeyOutput{AccessKey: &iamtypes.AccessKey{UserName: in.UserName, AccessKeyId: aws.String(id),
		SecretAccessKey: aws.String(canary.Secret + "-" + id), Status: iamtypes.StatusTypeActive}}, nil
}

func (f *fakeIAM) DeleteAccessKey(_ context.Context, in *iam.DeleteAccessKeyInput, _ ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("DeleteAccessKey"); err != nil {
		return nil, err
	}
	user := aws.ToString(in.UserName)
	keys := f.users[user]
	for i, id := range keys {
		if id == aws.ToString(in.AccessKeyId) {
			f.users[user] = append(keys[:i:i], keys[i+1:]...)
			return &iam.DeleteAccessKeyOutput{}, nil
		}
	}
	return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no key")}
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListAccessKeys"); err != nil {
		return nil, err
	}
	keys, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no user")}
	}
	out := &iam.ListAccessKeysOutput{}
	for _, id := range keys {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, iamtypes.AccessKeyMetadata{AccessKeyId: aws.String(id), UserName: in.UserName})
	}
	return out, nil
}

func (f *fakeIAM) keys(user string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.users[user]...)
}

// stack is a Provisioner whose create succeeds with a UserName output at
// once, and whose delete is recorded.
type stack struct {
	user    string
	deleted int
	keysAt  func() // called at Delete, to see what IAM holds then
}

func (s *stack) Create(context.Context, *provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
	return provisioner.Start{Resource: "stack-1"}, nil
}
func (s *stack) Update(context.Context, *provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error) {
	return provisioner.Start{}, nil
}
func (s *stack) Delete(context.Context, *provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
	s.deleted++
	if s.keysAt != nil {
		s.keysAt()
	}
	return provisioner.Start{}, nil
}
func (s *stack) Observe(context.Context, provisioner.ObserveRequest) (provisioner.Observation, error) {
	out := map[string]string{"UserARN": "arn:aws:iam::123456789012:user/" + s.user}
	if s.user != "" {
		out["UserName"] = s.user
	}
	return provisioner.Observation{State: provisioner.Succeeded, Status: "CREATE_COMPLETE", Outputs: out}, nil
}

func observe(t *testing.T, k *accesskeys.Keys, kind provisioner.Kind, inst *provisioner.Instance) provisioner.Observation {
	t.Helper()
	obs, err := k.Observe(context.Background(), provisioner.ObserveRequest{Instance: inst, Operation: &provisioner.Operation{ID: "op", Kind: kind}})
	if err != nil {
		t.Fatalf("Observe %s: %v", kind, err)
	}
	return obs
}

func TestKeyLifecycle(t *testing.T) {
	f := &fakeIAM{users: map[string][]string{"u1": nil}}
	canary.Plant(t)
	st := &stack{user: "u1"}
	k, err := accesskeys.New(st, accesskeys.Options{Client: f, Logger: canary.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	inst := &provisioner.Instance{ID: "b1"}

	// A crash after an earlier CreateAccessKey left a key whose secret is lost.
	f.users["u1"] = []string{"AKIAORPHAN"}
	obs := observe(t, k, provisioner.KindProvision, inst)
	id := obs.Outputs["AccessKeyId"]
	if obs.State != provisioner.Succeeded || id == "" || obs.Secrets["SecretAccessKey"] != canary.Secret+"-"+id {
		t.Fatalf("provision observation %+v: want the key ID in Outputs and its secret in Secrets", obs)
	}
	if _, leaked := obs.Outputs["SecretAccessKey"]; leaked {
		t.Error("the secret is in the plain outputs")
	}
	if got := f.keys("u1"); len(got) != 1 || got[0] != id {
		t.Errorf("user keys %v, want only %s (the orphan deleted)", got, id)
	}

	// An update keeps the key and its ID.
	inst.Outputs = obs.Outputs
	upd := observe(t, k, provisioner.KindUpdate, inst)
	if upd.Outputs["AccessKeyId"] != id || upd.Secrets != nil || len(f.keys("u1")) != 1 {
		t.Errorf("update: outputs %v secrets %d keys %v; want the key kept", upd.Outputs, len(upd.Secrets), f.keys("u1"))
	}

	// Delete removes the keys before the stack's delete starts.
	st.keysAt = func() {
		if n := len(f.keys("u1")); n != 0 {
			t.Errorf("at the stack's delete the user still has %d keys", n)
		}
	}
	if _, err := k.Delete(context.Background(), &provisioner.Operation{ID: "d", Kind: provisioner.KindDeprovision}, inst); err != nil {
		t.Fatal(err)
	}
	if st.deleted != 1 {
		t.Errorf("stack delete calls %d", st.deleted)
	}
	// Repeated after the user is gone: nothing to delete, no error.
	delete(f.users, "u1")
	if _, err := k.Delete(context.Background(), &provisioner.Operation{ID: "d", Kind: provisioner.KindDeprovision}, inst); err != nil {
		t.Errorf("delete again: %v", err)
	}
}

func TestKeyErrors(t *testing.T) {
	apiErr := func(code string) error {
		return &smithy.GenericAPIError{Code: code, Message: "User: arn:aws:sts::1:assumed-role/broker/x is not authorized to perform: iam:CreateAccessKey"}
	}
	for _, tc := range []struct {
		name      string
		user      string
		fail      func(op string) error
		wantState provisioner.State
		wantErr   bool
		want      string
	}{
		{name: "no user output", user: "", wantState: provisioner.Failed, want: "no UserName output"},
		{name: "denied", user: "u1", fail: func(op string) error {
			if op == "CreateAccessKey" {
				return apiErr("AccessDenied")
			}
			return nil
		}, wantState: provisioner.Failed, want: "iam:CreateAccessKey"},
		{name: "throttled is retried", user: "u1", fail: func(op string) error {
			if op == "ListAccessKeys" {
				return apiErr("Throttling")
			}
			return nil
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeIAM{users: map[string][]string{"u1": nil}, fail: tc.fail}
			k, err := accesskeys.New(&stack{user: tc.user}, accesskeys.Options{Client: f, Logger: canary.Logger(t)})
			if err != nil {
				t.Fatal(err)
			}
			obs, err := k.Observe(context.Background(), provisioner.ObserveRequest{Instance: &provisioner.Instance{ID: "b"}, Operation: &provisioner.Operation{ID: "op", Kind: provisioner.KindProvision}})
			if tc.wantErr {
				if err == nil || !provisioner.IsRetryable(err) {
					t.Errorf("got %+v, %v; want a retryable error", obs, err)
				}
				return
			}
			if err != nil || obs.State != tc.wantState || !strings.Contains(obs.Description, tc.want) {
				t.Errorf("got %+v, %v; want %s with %q", obs, err, tc.wantState, tc.want)
			}
			if obs.Secrets != nil {
				t.Error("a failure carries secrets")
			}
		})
	}
}

func TestKeysPerTarget(t *testing.T) {
	own := &fakeIAM{users: map[string][]string{"u1": nil}}
	other := &fakeIAM{users: map[string][]string{"u1": nil}}
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker"}
	k, err := accesskeys.New(&stack{user: "u1"}, accesskeys.Options{Client: own,
		Clients: func(_ context.Context, t credentials.Target) (accesskeys.API, error) {
			if t != target {
				return nil, errors.New("unexpected target")
			}
			return other, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	observe(t, k, provisioner.KindProvision, &provisioner.Instance{ID: "b", Target: target})
	if len(other.keys("u1")) != 1 || len(own.keys("u1")) != 0 {
		t.Errorf("keys: %v in the target account, %v in the broker's; want the key in the target's", other.keys("u1"), own.keys("u1"))
	}
}
