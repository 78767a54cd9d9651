package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// This file is the one place that creates and deletes access keys. Once the
// core library wraps a binding's provisioner so that the binding's own
// outputs carry AccessKeyId and SecretAccessKey (sealed by the Tracker), set
// Options.AccessKeys to nil and delete this file.

// AccessKey is an IAM access key. Its String hides the secret.
type AccessKey struct {
	ID, Secret string
}

// String prints the ID only.
func (k AccessKey) String() string { return "AccessKey{" + k.ID + "}" }

// GoString is String, so %#v cannot print the secret.
func (k AccessKey) GoString() string { return k.String() }

// AccessKeys gives a binding's IAM user an access key at bind time and
// deletes it at unbind. The key's secret is kept only in the binding's
// Secret, which is therefore what says which key is current.
type AccessKeys interface {
	// Ensure returns the user's key: current when the user still has it,
	// else a new one. Every other key of the user is deleted (one that a
	// crash between CreateAccessKey and writing the Secret left behind).
	Ensure(ctx context.Context, user string, current AccessKey) (key AccessKey, created bool, err error)
	// Revoke deletes key, or every key of the user when key.ID is "". A
	// user that does not exist has none: that is success.
	Revoke(ctx context.Context, user string, key AccessKey) error
}

// IAMAPI is the part of the IAM client that IAMAccessKeys calls.
type IAMAPI interface {
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
}

// IAMAccessKeys are AccessKeys made through the IAM API.
type IAMAccessKeys struct {
	IAM IAMAPI
}

var _ AccessKeys = (*IAMAccessKeys)(nil)

// Ensure implements AccessKeys.
func (k *IAMAccessKeys) Ensure(ctx context.Context, user string, current AccessKey) (AccessKey, bool, error) {
	ids, err := k.list(ctx, user)
	if err != nil {
		return AccessKey{}, false, err
	}
	keep := false
	for _, id := range ids {
		if id == current.ID && current.Secret != "" {
			keep = true
			continue
		}
		if err := k.Revoke(ctx, user, AccessKey{ID: id}); err != nil {
			return AccessKey{}, false, err
		}
	}
	if keep {
		return current, false, nil
	}
	out, err := k.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return AccessKey{}, false, fmt.Errorf("creating an access key for IAM user %s: %w", user, err)
	}
	return AccessKey{ID: aws.ToString(out.AccessKey.AccessKeyId), Secret: aws.ToString(out.AccessKey.SecretAccessKey)}, true, nil
}

// Revoke implements AccessKeys.
func (k *IAMAccessKeys) Revoke(ctx context.Context, user string, key AccessKey) error {
	ids := []string{key.ID}
	if key.ID == "" {
		var err error
		if ids, err = k.list(ctx, user); err != nil {
			return err
		}
	}
	for _, id := range ids {
		_, err := k.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
		if err != nil && !noSuchEntity(err) {
			return fmt.Errorf("deleting access key %s of IAM user %s: %w", id, user, err)
		}
	}
	return nil
}

// list returns the IDs of the user's keys; none for a user that does not
// exist.
func (k *IAMAccessKeys) list(ctx context.Context, user string) ([]string, error) {
	var ids []string
	p := iam.NewListAccessKeysPaginator(k.IAM, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if noSuchEntity(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing the access keys of IAM user %s: %w", user, err)
		}
		for _, m := range page.AccessKeyMetadata {
			ids = append(ids, aws.ToString(m.AccessKeyId))
		}
	}
	return ids, nil
}

func noSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse)
}
