package binding_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/binding"
)

const smARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"

// fakeSSM answers from params; it does not model versions, labels or
// throttling.
func fakeSSM(params map[string]string, calls *[]string) binding.SSMFunc {
	return func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		if !aws.ToBool(in.WithDecryption) {
			return nil, errors.New("fake: WithDecryption not set")
		}
		*calls = append(*calls, aws.ToString(in.Name))
		v, ok := params[aws.ToString(in.Name)]
		if !ok {
			return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
		}
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
	}
}

// fakeSM answers from secrets; a nil entry is a binary secret. It does
// not model versions or stages.
func fakeSM(secrets map[string]*string) binding.SecretsManagerFunc {
	return func(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		v, ok := secrets[aws.ToString(in.SecretId)]
		if !ok {
			return nil, errors.New("fake: ResourceNotFoundException")
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: v}, nil
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	var calls []string
	r := &binding.Resolver{
		SSM:            fakeSSM(map[string]string{"/app/db/password": "pw-from-ssm"}, &calls),
		SecretsManager: fakeSM(map[string]*string{smARN: aws.String("pw-from-sm")}),
		Keep:           []string{"SecretArnForApp"},
	}
	outputs := map[string]string{
		"MasterPassword":  "ssm:/app/db/password",
		"ApiKey":          smARN,
		"SecretArnForApp": smARN,
		"QueueURL":        "https://sqs.example/q",
		"NotAnARN":        "arn:aws:sqs:us-east-1:123456789012:q",
	}
	c, err := binding.Build(context.Background(), outputs, binding.Options{Resolver: r, Mapping: binding.ScreamingSnake})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"MASTER_PASSWORD":    "pw-from-ssm",
		"API_KEY":            "pw-from-sm",
		"SECRET_ARN_FOR_APP": smARN,
		"QUEUE_URL":          "https://sqs.example/q",
		"NOT_AN_ARN":         "arn:aws:sqs:us-east-1:123456789012:q",
	}
	if diff := cmp.Diff(want, c.Map()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !cmp.Equal(calls, []string{"/app/db/password"}) {
		t.Errorf("SSM calls = %v", calls)
	}
	if outputs["MasterPassword"] != "ssm:/app/db/password" {
		t.Error("Build modified its outputs")
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	var calls []string
	full := &binding.Resolver{
		SSM:            fakeSSM(nil, &calls),
		SecretsManager: fakeSM(map[string]*string{smARN: nil}),
	}
	tests := []struct {
		reason  string
		r       *binding.Resolver
		outputs map[string]string
		key     string
		is      error
		as      bool // want *ssmtypes.ParameterNotFound
	}{
		{"no SSM client", &binding.Resolver{}, map[string]string{"Pw": "ssm:/x"}, "Pw", binding.ErrNoClient, false},
		{"no Secrets Manager client", &binding.Resolver{SSM: full.SSM}, map[string]string{"Key": smARN}, "Key", binding.ErrNoClient, false},
		{"parameter not found", full, map[string]string{"Pw": "ssm:/missing"}, "Pw", nil, true},
		{"binary secret", full, map[string]string{"Key": smARN}, "Key", binding.ErrNoValue, false},
	}
	for _, tt := range tests {
		_, err := binding.Build(context.Background(), tt.outputs, binding.Options{Resolver: tt.r})
		var e *binding.Error
		if !errors.As(err, &e) || e.Op != "resolve" || e.Key != tt.key {
			t.Errorf("%s: got %v, want a resolve error for %q", tt.reason, err, tt.key)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v does not wrap %v", tt.reason, err, tt.is)
		}
		var nf *ssmtypes.ParameterNotFound
		if tt.as && !errors.As(err, &nf) {
			t.Errorf("%s: %v does not carry the SDK error", tt.reason, err)
		}
		if !strings.Contains(err.Error(), tt.outputs[tt.key]) {
			t.Errorf("%s: %q does not name the reference", tt.reason, err)
		}
	}
}
