package credentials

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// CallerIdentityAPI is the one STS call [Source.CallerIdentity] makes.
// *sts.Client implements it.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// CallerIdentityFunc adapts a function to [CallerIdentityAPI].
type CallerIdentityFunc func(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)

// GetCallerIdentity calls f.
func (f CallerIdentityFunc) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f(ctx, in, optFns...)
}

var (
	_ CallerIdentityAPI = (*sts.Client)(nil)
	_ CallerIdentityAPI = CallerIdentityFunc(nil)
)

// Identity is who AWS says the caller is. None of it is secret.
type Identity struct {
	// Account is the 12-digit account ID.
	Account string
	// ARN is the caller's ARN, e.g. arn:aws:sts::111111111111:assumed-role/NAME/SESSION.
	ARN string
	// UserID is the unique ID of the caller, e.g. AROA…:SESSION.
	UserID string
}

// LogValue logs the account and ARN.
func (i Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", i.Account), slog.String("arn", i.ARN))
}

// CallerIdentity asks STS GetCallerIdentity, with the configuration of t
// (see [Source.Config]), who the broker is when it acts for t. For a role
// target this assumes the role first, so it also proves that the role can
// be assumed. Errors name the target but never carry credentials or the
// external ID.
func (s *Source) CallerIdentity(ctx context.Context, t Target) (Identity, error) {
	e, err := s.entry(t)
	if err != nil {
		return Identity{}, err
	}
	e.once.Do(func() { e.identity = s.opts.NewIdentityClient(e.cfg.Copy()) })
	out, err := e.identity.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("credentials: GetCallerIdentity for %v: %w", t, err)
	}
	return Identity{
		Account: aws.ToString(out.Account),
		ARN:     aws.ToString(out.Arn),
		UserID:  aws.ToString(out.UserId),
	}, nil
}

// Check reports the broker's own identity (that of the zero Target) and
// logs it at Info level on Options.Logger. Call it at start, so that
// missing or wrong base credentials stop the broker at once rather than
// fail the first provision.
func (s *Source) Check(ctx context.Context) (Identity, error) {
	id, err := s.CallerIdentity(ctx, Target{})
	if err != nil {
		s.opts.Logger.LogAttrs(ctx, slog.LevelError, "credentials: the broker's AWS identity is unknown", slog.String("error", err.Error()))
		return Identity{}, err
	}
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "credentials: the broker runs as", slog.Any("identity", id))
	return id, nil
}
