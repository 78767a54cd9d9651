package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// IAMAPI is the part of the IAM client that bindings use.
// *iam.Client implements it; tests can fake it.
type IAMAPI interface {
	CreateUser(ctx context.Context, in *iam.CreateUserInput, optFns ...func(*iam.Options)) (*iam.CreateUserOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	DeleteUser(ctx context.Context, in *iam.DeleteUserInput, optFns ...func(*iam.Options)) (*iam.DeleteUserOutput, error)
	PutUserPolicy(ctx context.Context, in *iam.PutUserPolicyInput, optFns ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error)
	DeleteUserPolicy(ctx context.Context, in *iam.DeleteUserPolicyInput, optFns ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error)
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// The tags on every binding user. tagBindingID is how a user is known to
// be a binding's own: the broker never changes or deletes a user whose
// tag names another binding, or that has none.
const (
	tagBrokerID   = "brokerkit:broker-id"
	tagInstanceID = "brokerkit:instance-id"
	tagBindingID  = "brokerkit:binding-id"
)

// maxUserName is IAM's limit on user names.
const maxUserName = 64

// userName returns the IAM user name of binding bindingID:
// "<prefix>-<binding ID>", keeping only the characters IAM allows and
// lower-cased (IAM user names are unique regardless of case). When that
// changed anything or the name is longer than 64 characters, it is cut
// and ends in "-" and 8 hex digits of the SHA-256 of the binding ID, so
// that IDs differing only in dropped characters or case get distinct
// names. The same arguments always give the same name.
func userName(prefix, bindingID string) string {
	var b strings.Builder
	for _, c := range prefix + "-" + bindingID {
		if c < 0x80 && (isAlnum(byte(c)) || strings.ContainsRune("+=,.@_-", c)) {
			b.WriteRune(c)
		}
	}
	name := strings.ToLower(b.String())
	if name == prefix+"-"+bindingID && len(name) <= maxUserName {
		return name
	}
	sum := sha256.Sum256([]byte(bindingID))
	keep := maxUserName - 9
	if len(name) > keep {
		name = name[:keep]
	}
	return name + "-" + hex.EncodeToString(sum[:])[:8]
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// userPath is the IAM path of every binding user of a broker with stack
// prefix prefix: "/<prefix>/", so that the broker's own IAM permissions
// can be limited to arn:aws:iam::<account>:user/<prefix>/*.
func userPath(prefix string) string { return "/" + prefix + "/" }

// policyName is the name of a binding user's inline policy.
func policyName(prefix string) string { return prefix + "-binding" }

// A grant gives a binding the actions it needs on the resource named by
// one stack output.
type grant struct {
	// Output is the name of the output holding an ARN.
	Output string
	// Sid names the policy statement.
	Sid string
	// Actions are allowed on the ARN itself, SubActions on Sub appended
	// to it (objects of a bucket, indexes of a table).
	Actions    []string
	Sub        string
	SubActions []string
}

// grants are what a binding may do, by the output that names the
// resource: the data-plane actions an application needs, and nothing
// that changes or deletes the resource itself.
var grants = []grant{
	{Output: "QueueARN", Sid: "Queue", Actions: []string{
		"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility",
	}},
	{Output: "TopicARN", Sid: "Topic", Actions: []string{
		"sns:Publish", "sns:GetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:ListSubscriptionsByTopic",
	}},
	{Output: "BucketARN", Sid: "Bucket", Actions: []string{
		"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
	}, Sub: "/*", SubActions: []string{
		"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
	}},
	{Output: "TableARN", Sid: "Table", Actions: []string{
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
		"dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable",
	}, Sub: "/index/*", SubActions: []string{"dynamodb:Query", "dynamodb:Scan"}},
}

// policyDocument is an IAM policy.
type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// bindingPolicy returns the inline policy of a binding of an instance
// with outputs, or ok false when no output names a resource a grant
// knows (then the binding gets no IAM user).
func bindingPolicy(outputs map[string]string) (doc string, ok bool) {
	p := policyDocument{Version: "2012-10-17"}
	for _, g := range grants {
		arn := outputs[g.Output]
		if !strings.HasPrefix(arn, "arn:") {
			continue
		}
		p.Statement = append(p.Statement, statement{Sid: g.Sid, Effect: "Allow", Action: g.Actions, Resource: []string{arn}})
		if g.Sub != "" {
			p.Statement = append(p.Statement, statement{Sid: g.Sid + "Contents", Effect: "Allow", Action: g.SubActions, Resource: []string{arn + g.Sub}})
		}
	}
	if len(p.Statement) == 0 {
		return "", false
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // only strings
	}
	return string(b), true
}

// iamUsers creates and deletes binding users.
type iamUsers struct {
	api      IAMAPI
	prefix   string
	brokerID string
}

// accessKey is a created key; Secret must never be logged.
type accessKey struct {
	ID, Secret string
}

// create makes rec's user exist with policy doc and exactly one access
// key, which it returns. It is idempotent: a user this binding created
// before is reused, its policy replaced and its older keys (whose secrets
// are lost) deleted.
func (u *iamUsers) create(ctx context.Context, rec *bindingRecord, doc string) (accessKey, error) {
	_, err := u.api.CreateUser(ctx, &iam.CreateUserInput{
		UserName: aws.String(rec.UserName),
		Path:     aws.String(userPath(u.prefix)),
		Tags: []iamtypes.Tag{
			{Key: aws.String(tagBrokerID), Value: aws.String(u.brokerID)},
			{Key: aws.String(tagInstanceID), Value: aws.String(truncate(rec.InstanceID, 256))},
			{Key: aws.String(tagBindingID), Value: aws.String(truncate(rec.BindingID, 256))},
		},
	})
	var exists *iamtypes.EntityAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		owned, found, err := u.owned(ctx, rec)
		if err != nil {
			return accessKey{}, err
		}
		if !found {
			return accessKey{}, fmt.Errorf("IAM user %s was deleted while being created; bind again", rec.UserName)
		}
		if !owned {
			return accessKey{}, fmt.Errorf("IAM user %s exists and is not binding %s's (its %s tag differs)", rec.UserName, rec.BindingID, tagBindingID)
		}
	case err != nil:
		return accessKey{}, fmt.Errorf("creating IAM user %s: %w", rec.UserName, err)
	}
	if _, err := u.api.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(rec.UserName), PolicyName: aws.String(policyName(u.prefix)), PolicyDocument: aws.String(doc),
	}); err != nil {
		return accessKey{}, fmt.Errorf("putting the policy of IAM user %s: %w", rec.UserName, err)
	}
	if err := u.deleteKeys(ctx, rec.UserName); err != nil {
		return accessKey{}, err
	}
	out, err := u.api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(rec.UserName)})
	if err != nil {
		return accessKey{}, fmt.Errorf("creating an access key for IAM user %s: %w", rec.UserName, err)
	}
	if out.AccessKey == nil {
		return accessKey{}, fmt.Errorf("creating an access key for IAM user %s: no key in the answer", rec.UserName)
	}
	return accessKey{ID: aws.ToString(out.AccessKey.AccessKeyId), Secret: aws.ToString(out.AccessKey.SecretAccessKey)}, nil
}

// remove deletes rec's user with its keys and policy. Missing pieces are
// fine; a user that is not this binding's is left alone.
func (u *iamUsers) remove(ctx context.Context, rec *bindingRecord) error {
	owned, found, err := u.owned(ctx, rec)
	if err != nil || !found {
		return err
	}
	if !owned {
		return errNotOwned
	}
	if err := u.deleteKeys(ctx, rec.UserName); err != nil {
		return err
	}
	_, err = u.api.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(rec.UserName), PolicyName: aws.String(policyName(u.prefix))})
	if err != nil && !noSuchEntity(err) {
		return fmt.Errorf("deleting the policy of IAM user %s: %w", rec.UserName, err)
	}
	_, err = u.api.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(rec.UserName)})
	if err != nil && !noSuchEntity(err) {
		return fmt.Errorf("deleting IAM user %s: %w", rec.UserName, err)
	}
	return nil
}

// errNotOwned: the user named by a binding record carries another
// binding's tag, or none.
var errNotOwned = errors.New("the IAM user is not this binding's")

// owned reports whether rec's user exists and carries rec's binding tag.
func (u *iamUsers) owned(ctx context.Context, rec *bindingRecord) (owned, found bool, err error) {
	out, err := u.api.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(rec.UserName)})
	if noSuchEntity(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("reading IAM user %s: %w", rec.UserName, err)
	}
	if out.User == nil {
		return false, false, fmt.Errorf("reading IAM user %s: no user in the answer", rec.UserName)
	}
	for _, t := range out.User.Tags {
		if aws.ToString(t.Key) == tagBindingID {
			return aws.ToString(t.Value) == truncate(rec.BindingID, 256), true, nil
		}
	}
	return false, true, nil
}

// deleteKeys deletes every access key of user.
func (u *iamUsers) deleteKeys(ctx context.Context, user string) error {
	out, err := u.api.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if noSuchEntity(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the access keys of IAM user %s: %w", user, err)
	}
	for _, k := range out.AccessKeyMetadata {
		_, err := u.api.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: k.AccessKeyId})
		if err != nil && !noSuchEntity(err) {
			return fmt.Errorf("deleting access key %s of IAM user %s: %w", aws.ToString(k.AccessKeyId), user, err)
		}
	}
	return nil
}

func noSuchEntity(err error) bool {
	var e *iamtypes.NoSuchEntityException
	return errors.As(err, &e)
}

// truncate cuts s to at most n bytes without splitting a UTF-8
// sequence (tag values are at most 256 characters).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
