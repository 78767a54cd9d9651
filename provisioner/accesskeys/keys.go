package accesskeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

// API is the part of the IAM client that [Keys] uses; *iam.Client
// implements it.
type API interface {
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
}

// Default output names.
const (
	DefaultUserOutput   = "UserName"
	DefaultKeyIDOutput  = "AccessKeyId"
	DefaultSecretOutput = "SecretAccessKey"
)

// Options configure [Keys].
type Options struct {
	// Client calls IAM for instances whose Target is zero. Client or
	// Clients is required.
	Client API
	// Clients returns the IAM client for an instance's non-zero Target
	// (credentials.Clients' For method); called on every operation, so
	// it must cache. When Client is nil it serves zero Targets too.
	Clients func(ctx context.Context, t credentials.Target) (API, error)
	// UserOutput names the output that holds the IAM user's name
	// (default "UserName").
	UserOutput string
	// KeyIDOutput and SecretOutput name the outputs Keys adds: the key's
	// ID (plain, default "AccessKeyId") and its secret (a secret output,
	// default "SecretAccessKey").
	KeyIDOutput, SecretOutput string
	// Logger gets a record per key created or deleted, with the user's
	// name and the key's ID, never its secret. Nil discards.
	Logger *slog.Logger
}

// Keys is a [provisioner.Provisioner] and [provisioner.BatchObserver]
// that wraps another and manages one access key per instance (see the
// package documentation).
type Keys struct {
	p     provisioner.Provisioner
	batch provisioner.BatchObserver // nil if p does not batch
	opts  Options
	log   *slog.Logger
}

var (
	_ provisioner.Provisioner   = (*Keys)(nil)
	_ provisioner.BatchObserver = (*Keys)(nil)
)

// New returns Keys wrapping p, configured by a copy of opts changed by
// optFns.
func New(p provisioner.Provisioner, opts Options, optFns ...func(*Options)) (*Keys, error) {
	for _, fn := range optFns {
		fn(&opts)
	}
	if p == nil {
		return nil, errors.New("accesskeys: New needs a Provisioner to wrap")
	}
	if opts.Client == nil && opts.Clients == nil {
		return nil, errors.New("accesskeys: Options.Client or Options.Clients is required")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opts.UserOutput, DefaultUserOutput)
	def(&opts.KeyIDOutput, DefaultKeyIDOutput)
	def(&opts.SecretOutput, DefaultSecretOutput)
	k := &Keys{p: p, opts: opts, log: opts.Logger}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	k.batch, _ = p.(provisioner.BatchObserver)
	return k, nil
}

// Create starts the wrapped provisioner's create; the key comes when it
// has succeeded (see Observe).
func (k *Keys) Create(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	return k.p.Create(ctx, op, inst)
}

// Update starts the wrapped provisioner's update; the key is kept.
func (k *Keys) Update(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance, change provisioner.Change) (provisioner.Start, error) {
	return k.p.Update(ctx, op, inst, change)
}

// Delete deletes every access key of the instance's user, then starts the
// wrapped provisioner's delete. A user that does not exist (or an
// instance without a user output) has no keys to delete.
func (k *Keys) Delete(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	if user := inst.Outputs[k.opts.UserOutput]; user != "" {
		c, err := k.client(ctx, inst.Target)
		if err != nil {
			return provisioner.Start{}, err
		}
		if err := k.deleteKeys(ctx, c, user); err != nil {
			if d := denied(err); d != nil {
				return provisioner.Start{}, provisioner.Terminal(provisioner.ReasonRefused, d)
			}
			return provisioner.Start{}, err
		}
	}
	return k.p.Delete(ctx, op, inst)
}

// Observe observes through the wrapped provisioner; a create that
// succeeded gets its key (see the package documentation).
func (k *Keys) Observe(ctx context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	obs, err := k.p.Observe(ctx, req)
	if err != nil {
		return obs, err
	}
	return k.finish(ctx, req, obs)
}

// ObserveBatch observes through the wrapped provisioner's ObserveBatch
// (or Observe for each, if it has none), then gives keys as Observe does.
func (k *Keys) ObserveBatch(ctx context.Context, reqs []provisioner.ObserveRequest) ([]provisioner.Observation, []error) {
	var obs []provisioner.Observation
	var errs []error
	if k.batch != nil {
		obs, errs = k.batch.ObserveBatch(ctx, reqs)
	} else {
		obs, errs = make([]provisioner.Observation, len(reqs)), make([]error, len(reqs))
		for i, r := range reqs {
			obs[i], errs[i] = k.p.Observe(ctx, r)
		}
	}
	if errs == nil {
		errs = make([]error, len(reqs))
	}
	for i, r := range reqs {
		if errs[i] == nil {
			obs[i], errs[i] = k.finish(ctx, r, obs[i])
		}
	}
	return obs, errs
}

// finish adds the key to a succeeded create, and keeps the key's ID in
// the outputs of a succeeded update.
func (k *Keys) finish(ctx context.Context, req provisioner.ObserveRequest, obs provisioner.Observation) (provisioner.Observation, error) {
	if obs.State != provisioner.Succeeded || req.Operation == nil || req.Instance == nil {
		return obs, nil
	}
	switch req.Operation.Kind {
	case provisioner.KindUpdate:
		if id, ok := req.Instance.Outputs[k.opts.KeyIDOutput]; ok && obs.Outputs != nil {
			obs.Outputs = maps.Clone(obs.Outputs)
			obs.Outputs[k.opts.KeyIDOutput] = id
		}
		return obs, nil
	case provisioner.KindProvision:
	default:
		return obs, nil
	}
	user := obs.Outputs[k.opts.UserOutput]
	if user == "" {
		return provisioner.Observation{State: provisioner.Failed, Status: obs.Status,
			Description: fmt.Sprintf("The binding's resources have no %s output, so no access key could be created.", k.opts.UserOutput)}, nil
	}
	c, err := k.client(ctx, req.Instance.Target)
	if err != nil {
		return provisioner.Observation{}, err
	}
	// A key the user has now was made by an earlier attempt whose result
	// was never recorded: its secret is lost, so it goes.
	if err := k.deleteKeys(ctx, c, user); err != nil {
		return k.failure(obs, err)
	}
	out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return k.failure(obs, fmt.Errorf("accesskeys: iam:CreateAccessKey for user %s: %w", user, err))
	}
	if out.AccessKey == nil || aws.ToString(out.AccessKey.AccessKeyId) == "" || aws.ToString(out.AccessKey.SecretAccessKey) == "" {
		return provisioner.Observation{}, fmt.Errorf("accesskeys: iam:CreateAccessKey for user %s returned no key", user)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	k.log.InfoContext(ctx, "created an access key", "user", user, "access_key_id", id, "operation", req.Operation.ID)
	obs.Outputs = maps.Clone(obs.Outputs)
	obs.Outputs[k.opts.KeyIDOutput] = id
	secrets := maps.Clone(obs.Secrets)
	if secrets == nil {
		secrets = map[string]string{}
	}
	secrets[k.opts.SecretOutput] = aws.ToString(out.AccessKey.SecretAccessKey)
	obs.Secrets = secrets
	return obs, nil
}

// failure turns an IAM error into a failed observation when retrying
// cannot help (access denied, a quota), else returns it for a retry.
func (k *Keys) failure(obs provisioner.Observation, err error) (provisioner.Observation, error) {
	if d := denied(err); d != nil {
		return provisioner.Observation{State: provisioner.Failed, Status: obs.Status, Description: d.Error()}, nil
	}
	return provisioner.Observation{}, err
}

// deleteKeys deletes every access key of user.
func (k *Keys) deleteKeys(ctx context.Context, c API, user string) error {
	in := &iam.ListAccessKeysInput{UserName: aws.String(user)}
	for {
		out, err := c.ListAccessKeys(ctx, in)
		if noSuchEntity(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accesskeys: iam:ListAccessKeys for user %s: %w", user, err)
		}
		for _, md := range out.AccessKeyMetadata {
			id := aws.ToString(md.AccessKeyId)
			_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: md.AccessKeyId})
			if err != nil && !noSuchEntity(err) {
				return fmt.Errorf("accesskeys: iam:DeleteAccessKey %s of user %s: %w", id, user, err)
			}
			k.log.InfoContext(ctx, "deleted an access key", "user", user, "access_key_id", id)
		}
		if !out.IsTruncated || out.Marker == nil {
			return nil
		}
		in.Marker = out.Marker
	}
}

func (k *Keys) client(ctx context.Context, t credentials.Target) (API, error) {
	if t == (credentials.Target{}) && k.opts.Client != nil {
		return k.opts.Client, nil
	}
	if k.opts.Clients == nil {
		return nil, provisioner.Terminal(provisioner.ReasonInvalid, fmt.Errorf("accesskeys: no IAM client for target %v (Options.Clients is nil)", t))
	}
	c, err := k.opts.Clients(ctx, t)
	if errors.Is(err, credentials.ErrInvalidTarget) {
		return nil, provisioner.Terminal(provisioner.ReasonInvalid, err)
	}
	return c, err
}

func noSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity"
}

// deniedError is an IAM error that retrying cannot fix.
type deniedError struct{ err error }

func (e *deniedError) Error() string {
	return "The broker could not manage the binding's access key: " + e.err.Error()
}
func (e *deniedError) Unwrap() error { return e.err }

// denied returns err as a *deniedError when it is an access-denied or
// quota error, else nil.
func denied(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return nil
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "LimitExceeded", "InvalidClientTokenId":
		return &deniedError{err}
	}
	return nil
}
