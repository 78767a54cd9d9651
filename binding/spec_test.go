package binding_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/catalog"
)

func TestOptionsFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason  string
		spec    *catalog.CredentialsSpec
		want    binding.Options
		wantErr string
	}{
		{reason: "a nil spec keeps the outputs as they are", spec: nil},
		{reason: "an empty mapping is as-is", spec: &catalog.CredentialsSpec{}},
		{reason: "as-is", spec: &catalog.CredentialsSpec{Mapping: catalog.MappingAsIs}, want: binding.Options{Mapping: binding.AsIs}},
		{reason: "screaming-snake", spec: &catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake}, want: binding.Options{Mapping: binding.ScreamingSnake}},
		{reason: "servicebinding", spec: &catalog.CredentialsSpec{Mapping: catalog.MappingServiceBinding}, want: binding.Options{Mapping: binding.ServiceBinding}},
		{
			reason: "each op becomes its Transform, in order; type, provider and lifetime are not Options",
			spec: &catalog.CredentialsSpec{Type: "sqs", Provider: "aws", Lifetime: 3600, Transforms: []catalog.KeyTransform{
				{Op: catalog.OpRename, Key: "a", To: "b"},
				{Op: catalog.OpAdd, Key: "c", Value: "v"},
				{Op: catalog.OpAdd, Key: "d", Template: "{{.b}}"},
				{Op: catalog.OpRemove, Key: "e"},
			}},
			want: binding.Options{Transforms: []binding.Transform{
				binding.RenameKey{From: "a", To: "b"},
				binding.AddKey{Key: "c", Value: "v"},
				binding.AddKey{Key: "d", Template: "{{.b}}"},
				binding.RemoveKey{Key: "e"},
			}},
		},
		{
			reason:  "an unknown mapping names the field",
			spec:    &catalog.CredentialsSpec{Mapping: "camel"},
			wantErr: `binding: credentials.mapping: "camel" is not as-is, screaming-snake or servicebinding`,
		},
		{
			reason: "an unknown op names the transform",
			spec: &catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{
				{Op: catalog.OpRemove, Key: "a"},
				{Op: "rname", Key: "b", To: "c"},
			}},
			wantErr: `binding: credentials.transforms[1].op: bad transform: "rname" is not rename, add or remove`,
		},
	}
	for _, tt := range tests {
		got, err := binding.OptionsFor(tt.spec)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr {
			t.Errorf("%s: error %q, want %q", tt.reason, gotErr, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Options (-want +got):\n%s", tt.reason, diff)
		}
	}
	_, err := binding.OptionsFor(&catalog.CredentialsSpec{Transforms: []catalog.KeyTransform{{Key: "a"}}})
	if !errors.Is(err, binding.ErrBadTransform) {
		t.Errorf("an empty op: %v, want ErrBadTransform", err)
	}
}

// TestOptionsForGolden builds each fixture's credentials the way a
// service's catalog entry declares them, one mapping per service, and
// renders the Secret SecretFor picks. testdata/spec-<mapping>.golden;
// -update rewrites them.
func TestOptionsForGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outputs map[string]string
		spec    catalog.CredentialsSpec
	}{
		{
			// A service that kept its output names, with a JDBC URL added.
			rdsOutputs,
			catalog.CredentialsSpec{Mapping: catalog.MappingAsIs, Transforms: []catalog.KeyTransform{
				{Op: catalog.OpAdd, Key: "JdbcURL", Template: "jdbc:postgresql://{{.EndpointAddress}}:{{.EndpointPort}}/{{.DBName}}"},
				{Op: catalog.OpRename, Key: "MasterUsername", To: "Username"},
			}},
		},
		{
			// The AWS Service Broker's naming, without the dead-letter queue.
			sqsOutputs,
			catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake, Transforms: []catalog.KeyTransform{
				{Op: catalog.OpRemove, Key: "DEAD_LETTER_QUEUE_ARN"},
				{Op: catalog.OpRemove, Key: "DEAD_LETTER_QUEUE_NAME"},
				{Op: catalog.OpRename, Key: "DEAD_LETTER_QUEUE_URL", To: "DLQ_URL"},
			}},
		},
		{
			// A servicebinding.io Secret of type s3. Kebab keys are not
			// template identifiers: index reaches them.
			s3Outputs,
			catalog.CredentialsSpec{Mapping: catalog.MappingServiceBinding, Type: "s3", Provider: "aws", Transforms: []catalog.KeyTransform{
				{Op: catalog.OpAdd, Key: "uri", Template: `https://{{index . "bucket-domain-name"}}`},
				{Op: catalog.OpAdd, Key: "region", Value: "us-east-1"},
			}},
		},
	}
	for _, tt := range tests {
		name := "spec-" + tt.spec.Mapping
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts, err := binding.OptionsFor(&tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			c, err := binding.Build(context.Background(), tt.outputs, opts)
			if err != nil {
				t.Fatal(err)
			}
			data, typ := binding.SecretFor(c, &tt.spec)
			out := map[string]any{"type": typ, "data": asStrings(data)}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, append(b, '\n'))
		})
	}
}

func TestSecretFor(t *testing.T) {
	t.Parallel()
	// Credentials with their own "type" entry: ServiceBindingSecret would
	// use it, SecretFor follows the spec only.
	c := binding.FromMap(map[string]string{"type": "mysql", "host": "db"})
	tests := []struct {
		reason   string
		spec     *catalog.CredentialsSpec
		wantType string
		wantData map[string]string
	}{
		{"a nil spec is an Opaque Secret", nil, "Opaque", map[string]string{"type": "mysql", "host": "db"}},
		{"a spec without a type is an Opaque Secret", &catalog.CredentialsSpec{Mapping: catalog.MappingServiceBinding}, "Opaque", map[string]string{"type": "mysql", "host": "db"}},
		{"a type makes a servicebinding.io Secret", &catalog.CredentialsSpec{Type: "postgresql", Provider: "aws"}, "servicebinding.io/postgresql",
			map[string]string{"type": "postgresql", "provider": "aws", "host": "db"}},
	}
	for _, tt := range tests {
		data, typ := binding.SecretFor(c, tt.spec)
		if typ != tt.wantType {
			t.Errorf("%s: type %q, want %q", tt.reason, typ, tt.wantType)
		}
		if diff := cmp.Diff(tt.wantData, asStrings(data)); diff != "" {
			t.Errorf("%s: data (-want +got):\n%s", tt.reason, diff)
		}
	}
}

func asStrings(d map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		out[k] = string(v)
	}
	return out
}
