package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// fakeIAM is an in-memory IAM for users, inline policies and access keys.
// The error hook (setErr), if set, is consulted before each call with the
// operation's name ("CreateUser", ...); a non-nil answer fails the call
// without effect.
//
// It does not model: paths beyond storing them, case-insensitive names,
// the two-key limit, DeleteConflict (it deletes a user with keys or
// policies, as moto does), managed policies, or eventual consistency.
type fakeIAM struct {
	mu       sync.Mutex
	err      func(op string) error
	users    map[string]*fakeUser
	keys     int // access keys ever created
	sequence int
}

type fakeUser struct {
	path     string
	tags     map[string]string
	policies map[string]string
	keys     map[string]string // ID → secret
}

var _ IAMAPI = (*fakeIAM)(nil)

func newFakeIAM() *fakeIAM { return &fakeIAM{users: map[string]*fakeUser{}} }

func (f *fakeIAM) fail(op string) error {
	f.mu.Lock()
	hook := f.err
	f.mu.Unlock()
	if hook != nil {
		return hook(op)
	}
	return nil
}

// setErr sets the error hook; nil removes it.
func (f *fakeIAM) setErr(hook func(op string) error) {
	f.mu.Lock()
	f.err = hook
	f.mu.Unlock()
}

// count returns the number of users.
func (f *fakeIAM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.users)
}

func noSuchUser(name string) error {
	return &iamtypes.NoSuchEntityException{Message: aws.String("The user with name " + name + " cannot be found.")}
}

func (f *fakeIAM) CreateUser(_ context.Context, in *iam.CreateUserInput, _ ...func(*iam.Options)) (*iam.CreateUserOutput, error) {
	if err := f.fail("CreateUser"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.UserName)
	if _, ok := f.users[name]; ok {
		return nil, &iamtypes.EntityAlreadyExistsException{Message: aws.String("User with name " + name + " already exists.")}
	}
	u := &fakeUser{path: aws.ToString(in.Path), tags: map[string]string{}, policies: map[string]string{}, keys: map[string]string{}}
	for _, t := range in.Tags {
		u.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	f.users[name] = u
	return &iam.CreateUserOutput{User: &iamtypes.User{UserName: in.UserName, Path: in.Path}}, nil
}

func (f *fakeIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	if err := f.fail("GetUser"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	out := &iamtypes.User{UserName: in.UserName, Path: aws.String(u.path)}
	for _, k := range slices.Sorted(maps.Keys(u.tags)) {
		out.Tags = append(out.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(u.tags[k])})
	}
	return &iam.GetUserOutput{User: out}, nil
}

func (f *fakeIAM) DeleteUser(_ context.Context, in *iam.DeleteUserInput, _ ...func(*iam.Options)) (*iam.DeleteUserOutput, error) {
	if err := f.fail("DeleteUser"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[aws.ToString(in.UserName)]; !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	delete(f.users, aws.ToString(in.UserName))
	return &iam.DeleteUserOutput{}, nil
}

func (f *fakeIAM) PutUserPolicy(_ context.Context, in *iam.PutUserPolicyInput, _ ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error) {
	if err := f.fail("PutUserPolicy"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	u.policies[aws.ToString(in.PolicyName)] = aws.ToString(in.PolicyDocument)
	return &iam.PutUserPolicyOutput{}, nil
}

func (f *fakeIAM) DeleteUserPolicy(_ context.Context, in *iam.DeleteUserPolicyInput, _ ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error) {
	if err := f.fail("DeleteUserPolicy"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	if _, ok := u.policies[aws.ToString(in.PolicyName)]; !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no such policy")}
	}
	delete(u.policies, aws.ToString(in.PolicyName))
	return &iam.DeleteUserPolicyOutput{}, nil
}

func (f *fakeIAM) CreateAccessKey(_ context.Context, in *iam.CreateAccessKeyInput, _ ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error) {
	if err := f.fail("CreateAccessKey"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	f.keys++
	f.sequence++
	id, secret := fmt.Sprintf("AKIAFAKE%012d", f.sequence), fmt.Sprintf("fake-secret-%d", f.sequence)
	u.keys[id] = secret
	return &iam.CreateAccessKeyOutput{AccessKey: &iamtypes.AccessKey{
		UserName: in.UserName, AccessKeyId: aws.String(id), SecretAccessKey: aws.String(secret), Status: iamtypes.StatusTypeActive,
	}}, nil
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if err := f.fail("ListAccessKeys"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	out := &iam.ListAccessKeysOutput{}
	for _, id := range slices.Sorted(maps.Keys(u.keys)) {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, iamtypes.AccessKeyMetadata{UserName: in.UserName, AccessKeyId: aws.String(id)})
	}
	return out, nil
}

func (f *fakeIAM) DeleteAccessKey(_ context.Context, in *iam.DeleteAccessKeyInput, _ ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	if err := f.fail("DeleteAccessKey"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuchUser(aws.ToString(in.UserName))
	}
	if _, ok := u.keys[aws.ToString(in.AccessKeyId)]; !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no such key")}
	}
	delete(u.keys, aws.ToString(in.AccessKeyId))
	return &iam.DeleteAccessKeyOutput{}, nil
}

// user returns a copy of user name's state, or nil.
func (f *fakeIAM) user(name string) *fakeUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return nil
	}
	return &fakeUser{path: u.path, tags: maps.Clone(u.tags), policies: maps.Clone(u.policies), keys: maps.Clone(u.keys)}
}

// addUser makes a user exist, as another party (or an earlier, crashed
// bind) left it.
func (f *fakeIAM) addUser(name string, tags map[string]string, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := &fakeUser{tags: maps.Clone(tags), policies: map[string]string{}, keys: map[string]string{}}
	for _, k := range keys {
		u.keys[k] = "lost-secret"
	}
	f.users[name] = u
}

func (f *fakeIAM) created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys
}
