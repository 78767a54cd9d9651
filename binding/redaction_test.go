package binding_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/brokerkit/brokerkit/binding"
	ic "github.com/brokerkit/brokerkit/internal/canary"
)

// canary is the repository-wide canary (see internal/canary).
const canary = ic.Secret

func TestRedaction(t *testing.T) {
	t.Parallel()
	ic.Plant(t)
	c := binding.FromMap(map[string]string{"password": canary, "PLAIN": "x"})
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%p", "%10.3v", "%T"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c))
	}
	out = append(out, fmt.Sprint(c), fmt.Sprintln(c),
		fmt.Sprintf("%+v", struct{ C binding.Credentials }{c}),
		fmt.Sprintf("%+v", struct{ c binding.Credentials }{c}), // unexported: fmt bypasses the methods
		fmt.Sprintf("%v", []binding.Credentials{c}),
		fmt.Sprintf("%v", map[string]any{"c": c}),
	)
	text, _ := c.MarshalText()
	out = append(out, string(text))
	for _, v := range []any{c, &c, struct{ C binding.Credentials }{c}, map[string]any{"c": c}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("bound", "creds", c, "ptr", &c, slog.Group("g", "creds", c), slog.Any("any", c))
		l.Info("bound", "nested", struct{ C binding.Credentials }{c})
	}
	out = append(out, buf.String())
	log := ic.Logger(t) // in a canary run, the renderings go to the scanned output too
	for i, s := range out {
		log.Info("rendering", "i", i, "text", s)
		if strings.Contains(s, canary) {
			t.Errorf("output %d leaks the canary: %s", i, s)
		}
	}
	if !strings.Contains(c.String(), "password:[redacted]") {
		t.Errorf("String = %q, want the keys", c)
	}
}

func TestErrorsNeverContainValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outputs := map[string]string{
		"password": canary,
		"ref":      "ssm:/p",
		"hostname": canary + ".example.com",
	}
	ssmErr := binding.SSMFunc(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("no such parameter")}
	})
	ssmEmpty := binding.SSMFunc(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		return &ssm.GetParameterOutput{}, nil
	})
	ssmCanary := binding.SSMFunc(func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(canary)}}, nil
	})
	failing := []binding.Options{
		{Resolver: &binding.Resolver{}},
		{Resolver: &binding.Resolver{SSM: ssmErr}},
		{Resolver: &binding.Resolver{SSM: ssmEmpty}},
		{Resolver: &binding.Resolver{SSM: ssmCanary}, Transforms: []binding.Transform{binding.AddKey{Key: "bad key", Template: "{{.ref}}"}}},
		{Mapping: binding.ScreamingSnake, Extra: map[string]string{"PASSWORD": canary}, Transforms: []binding.Transform{binding.RenameKey{From: "PASSWORD", To: "HOSTNAME"}}},
		{Transforms: []binding.Transform{binding.RemoveKey{Key: "nope"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{.password}}{{.nope}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{.password.Field}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{slice .password 3 1}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{index .password 1000}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{call .password}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Template: "{{eq .password 1}}"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "u", Value: canary, Template: "x"}}},
		{Transforms: []binding.Transform{binding.AddKey{Key: "..", Value: canary}}},
	}
	for i, o := range failing {
		_, err := binding.Build(ctx, outputs, o)
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), canary) || strings.Contains(fmt.Sprintf("%+v", e), canary) {
				t.Errorf("case %d: error leaks the canary: %v", i, e)
			}
		}
	}
	if _, err := binding.ParseJSON([]byte(`{"a": 1, "b": "` + canary + `"}`)); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("ParseJSON error = %v", err)
	}
}
