package binding

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSMPrefix marks an output value that names an SSM Parameter Store
// parameter, the old AWS broker's convention: "ssm:/app/db/password".
const SSMPrefix = "ssm:"

// SSMAPI is the one SSM call a [Resolver] makes; *ssm.Client implements
// it.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SSMFunc adapts a function to [SSMAPI].
type SSMFunc func(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)

// GetParameter calls f.
func (f SSMFunc) GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return f(ctx, in, optFns...)
}

// SecretsManagerAPI is the one Secrets Manager call a [Resolver] makes;
// *secretsmanager.Client implements it.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManagerFunc adapts a function to [SecretsManagerAPI].
type SecretsManagerFunc func(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)

// GetSecretValue calls f.
func (f SecretsManagerFunc) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(ctx, in, optFns...)
}

var (
	_ SSMAPI            = (*ssm.Client)(nil)
	_ SSMAPI            = SSMFunc(nil)
	_ SecretsManagerAPI = (*secretsmanager.Client)(nil)
	_ SecretsManagerAPI = SecretsManagerFunc(nil)
)

// Resolver replaces output values that refer to a secret store by the
// secrets, at bind time, so that secrets never sit in a stack output:
//
//   - "ssm:NAME" is the SSM parameter NAME, decrypted (WithDecryption);
//   - "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:..." is the
//     SecretString of that Secrets Manager secret (its current version).
//
// A reference whose client is nil is an [*Error] wrapping [ErrNoClient];
// errors name the output key and the reference, never a secret. A
// Resolver's fields are read-only once in use; it is then safe for
// concurrent use if its clients are. The zero Resolver resolves nothing
// and fails on every reference.
type Resolver struct {
	SSM            SSMAPI
	SecretsManager SecretsManagerAPI
	// Keep lists output keys whose values are passed through as they
	// are even if they look like references: an output SecretArn that
	// the application reads itself with its own permissions.
	Keep []string
}

// Resolve returns a copy of outputs with the references resolved, in
// ascending key order, stopping at the first failure.
func (r *Resolver) Resolve(ctx context.Context, outputs map[string]string) (map[string]string, error) {
	out := maps.Clone(outputs)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		if slices.Contains(r.Keep, k) {
			continue
		}
		v := outputs[k]
		var err error
		switch {
		case strings.HasPrefix(v, SSMPrefix):
			out[k], err = r.ssm(ctx, k, v)
		case isSecretsManagerARN(v):
			out[k], err = r.secretsManager(ctx, k, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Resolver) ssm(ctx context.Context, key, ref string) (string, error) {
	if r.SSM == nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: ErrNoClient}
	}
	resp, err := r.SSM.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(strings.TrimPrefix(ref, SSMPrefix)),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: err}
	}
	if resp == nil || resp.Parameter == nil || resp.Parameter.Value == nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: ErrNoValue}
	}
	return *resp.Parameter.Value, nil
}

func (r *Resolver) secretsManager(ctx context.Context, key, ref string) (string, error) {
	if r.SecretsManager == nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: ErrNoClient}
	}
	resp, err := r.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref)})
	if err != nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: err}
	}
	if resp == nil || resp.SecretString == nil {
		return "", &Error{Op: "resolve", Key: key, Ref: ref, Err: ErrNoValue}
	}
	return *resp.SecretString, nil
}

// isSecretsManagerARN reports whether v is a whole Secrets Manager secret
// ARN: arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.
func isSecretsManagerARN(v string) bool {
	parts := strings.SplitN(v, ":", 7)
	return len(parts) == 7 && parts[0] == "arn" && parts[1] != "" &&
		parts[2] == "secretsmanager" && parts[3] != "" && parts[4] != "" &&
		parts[5] == "secret" && parts[6] != "" && !strings.ContainsAny(v, " \t\n")
}
