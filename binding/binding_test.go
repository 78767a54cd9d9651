package binding_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/binding"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Outputs of the old AWS broker's templates (values invented).
var (
	sqsOutputs = map[string]string{
		"QueueURL":            "https://sqs.us-east-1.amazonaws.com/123456789012/app-queue",
		"QueueARN":            "arn:aws:sqs:us-east-1:123456789012:app-queue",
		"QueueName":           "app-queue",
		"DeadLetterQueueURL":  "https://sqs.us-east-1.amazonaws.com/123456789012/app-queue-dlq",
		"DeadLetterQueueARN":  "arn:aws:sqs:us-east-1:123456789012:app-queue-dlq",
		"DeadLetterQueueName": "app-queue-dlq",
	}
	s3Outputs = map[string]string{
		"BucketName":       "app-bucket",
		"BucketArn":        "arn:aws:s3:::app-bucket",
		"BucketDomainName": "app-bucket.s3.amazonaws.com",
	}
	rdsOutputs = map[string]string{
		"EndpointAddress": "db.abc123.us-east-1.rds.amazonaws.com",
		"EndpointPort":    "5432",
		"MasterUsername":  "master",
		"MasterPassword":  "hunter2-not-really",
		"DBName":          "appdb",
	}
)

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// lines renders credentials one "key=value" per line, keys ascending.
func lines(c binding.Credentials) []byte {
	var b strings.Builder
	for k, v := range c.All() {
		b.WriteString(k + "=" + v + "\n")
	}
	return []byte(b.String())
}

func TestMappingGolden(t *testing.T) {
	t.Parallel()
	services := []struct {
		name    string
		outputs map[string]string
	}{{"sqs", sqsOutputs}, {"s3", s3Outputs}, {"rds", rdsOutputs}}
	for _, m := range []binding.Mapping{binding.AsIs, binding.ScreamingSnake, binding.ServiceBinding} {
		for _, s := range services {
			name := "mapping-" + s.name + "-" + m.String()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, err := binding.Build(context.Background(), s.outputs, binding.Options{Mapping: m})
				if err != nil {
					t.Fatal(err)
				}
				golden(t, name, lines(c))
			})
		}
	}
}

func TestTransformsGolden(t *testing.T) {
	t.Parallel()
	c, err := binding.Build(context.Background(), rdsOutputs, binding.Options{
		Mapping: binding.ServiceBinding,
		Extra:   map[string]string{"AWS_REGION": "us-east-1"},
		Transforms: []binding.Transform{
			binding.RenameKey{From: "db-name", To: "database"},
			binding.AddKey{Key: "uri", Template: "postgres://{{urlquery .username}}:{{urlquery .password}}@{{.host}}:{{.port}}/{{.database}}"},
			binding.AddKey{Key: "sslmode", Value: "require"},
			binding.RemoveKey{Key: "AWS_REGION"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "transforms-rds", lines(c))
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	c, err := binding.Build(context.Background(), sqsOutputs, binding.Options{
		Mapping:    binding.ServiceBinding,
		Extra:      map[string]string{"region": "us-east-1"},
		Transforms: []binding.Transform{binding.RenameKey{From: "queue-url", To: "uri"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	asStrings := func(d map[string][]byte) map[string]string {
		out := map[string]string{}
		for k, v := range d {
			out[k] = string(v)
		}
		return out
	}
	enc := func(v any) []byte {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	golden(t, "render-osb", enc(binding.OSB(c)))
	golden(t, "render-kubernetes", enc(asStrings(binding.KubernetesSecretData(c))))
	data, typ := binding.ServiceBindingSecret(c, "sqs", "aws")
	golden(t, "render-servicebinding", enc(map[string]any{"type": typ, "data": asStrings(data)}))
}

func TestServiceBindingSecretType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason       string
		creds        map[string]string
		typ, prov    string
		wantType     string
		wantEntry    string
		wantProvider bool
	}{
		{"typ given wins over an entry", map[string]string{"type": "old"}, "postgresql", "aws", "servicebinding.io/postgresql", "postgresql", true},
		{"the credentials' own type entry", map[string]string{"type": "mysql"}, "", "", "servicebinding.io/mysql", "mysql", false},
		{"no type at all is Opaque", map[string]string{"a": "b"}, "", "aws", "Opaque", "", false},
	}
	for _, tt := range tests {
		data, typ := binding.ServiceBindingSecret(binding.FromMap(tt.creds), tt.typ, tt.prov)
		if typ != tt.wantType || string(data["type"]) != tt.wantEntry {
			t.Errorf("%s: got type %q entry %q, want %q %q", tt.reason, typ, data["type"], tt.wantType, tt.wantEntry)
		}
		if _, ok := data["provider"]; ok != tt.wantProvider {
			t.Errorf("%s: provider entry present = %v, want %v", tt.reason, ok, tt.wantProvider)
		}
	}
}

func TestValidateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key    string
		ok     bool
		reason string
	}{
		{"QUEUE_URL", true, "screaming snake"},
		{"queue-url", true, "kebab"},
		{"tls.crt", true, "dots inside"},
		{".dotfile", true, "one leading dot is allowed"},
		{strings.Repeat("a", 253), true, "253 bytes"},
		{"", false, "empty"},
		{strings.Repeat("a", 254), false, "254 bytes"},
		{".", false, "dot"},
		{"..", false, "dot dot"},
		{"..x", false, "leading dot dot"},
		{"queue url", false, "space"},
		{"queue/url", false, "slash"},
		{"clé", false, "non-ASCII"},
	}
	for _, tt := range tests {
		err := binding.ValidateKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("%s: ValidateKey(%q) = %v, want ok %v", tt.reason, tt.key, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		var e *binding.Error
		if !errors.As(err, &e) || e.Key != tt.key || !errors.Is(err, binding.ErrInvalidKey) {
			t.Errorf("%s: error %v does not name the key or wrap ErrInvalidKey", tt.reason, err)
		}
		if tt.key != "" && !strings.Contains(err.Error(), tt.key[:min(len(tt.key), 20)]) {
			t.Errorf("%s: error %q does not name the key", tt.reason, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason  string
		outputs map[string]string
		opts    binding.Options
		op, key string
		want    error
	}{
		{"rename of a missing key", sqsOutputs, binding.Options{Transforms: []binding.Transform{binding.RenameKey{From: "Nope", To: "x"}}}, "rename", "Nope", binding.ErrMissingKey},
		{"rename onto an existing key", sqsOutputs, binding.Options{Transforms: []binding.Transform{binding.RenameKey{From: "QueueURL", To: "QueueARN"}}}, "rename", "QueueARN", binding.ErrDuplicateKey},
		{"remove of a missing key", sqsOutputs, binding.Options{Transforms: []binding.Transform{binding.RemoveKey{Key: "Nope"}}}, "remove", "Nope", binding.ErrMissingKey},
		{"template over a missing key", rdsOutputs, binding.Options{Transforms: []binding.Transform{binding.AddKey{Key: "uri", Template: "{{.host}}:{{.nope}}"}}}, "add", "uri", binding.ErrMissingKey},
		{"template that does not parse", rdsOutputs, binding.Options{Transforms: []binding.Transform{binding.AddKey{Key: "uri", Template: "{{.host"}}}, "add", "uri", binding.ErrBadTransform},
		{"value and template", rdsOutputs, binding.Options{Transforms: []binding.Transform{binding.AddKey{Key: "uri", Value: "x", Template: "y"}}}, "add", "uri", binding.ErrBadTransform},
		{"mapping collision", map[string]string{"QueueUrl": "a", "QueueURL": "b"}, binding.Options{Mapping: binding.ScreamingSnake}, "map", "QUEUE_URL", binding.ErrDuplicateKey},
		{"invalid output key", map[string]string{"Queue URL": "a"}, binding.Options{}, "validate", "Queue URL", binding.ErrInvalidKey},
		{"invalid key from a transform", sqsOutputs, binding.Options{Transforms: []binding.Transform{binding.AddKey{Key: "..", Value: "x"}}}, "validate", "..", binding.ErrInvalidKey},
		{"reference without a client", map[string]string{"Password": "ssm:/db/pw"}, binding.Options{Resolver: &binding.Resolver{}}, "resolve", "Password", binding.ErrNoClient},
	}
	for _, tt := range tests {
		_, err := binding.Build(context.Background(), tt.outputs, tt.opts)
		var e *binding.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want *binding.Error", tt.reason, err)
			continue
		}
		if e.Op != tt.op || e.Key != tt.key || !errors.Is(err, tt.want) {
			t.Errorf("%s: got op %q key %q err %v, want %q %q %v", tt.reason, e.Op, e.Key, err, tt.op, tt.key, tt.want)
		}
		if !strings.Contains(err.Error(), `"`+tt.key+`"`) {
			t.Errorf("%s: %q does not name %q", tt.reason, err, tt.key)
		}
	}
}

func TestTransformsInOrder(t *testing.T) {
	t.Parallel()
	// A template sees the keys as earlier transforms left them.
	c, err := binding.Apply(binding.FromMap(map[string]string{"a": "1"}),
		binding.RenameKey{From: "a", To: "b"},
		binding.AddKey{Key: "c", Template: "{{.b}}{{.b}}"},
		binding.AddKey{Key: "b", Value: "2"}, // replaces
	)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"b": "2", "c": "11"}, c.Map()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMappingText(t *testing.T) {
	t.Parallel()
	for _, m := range []binding.Mapping{binding.AsIs, binding.ScreamingSnake, binding.ServiceBinding} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got binding.Mapping
		if err := got.UnmarshalText(b); err != nil || got != m {
			t.Errorf("round trip of %v: got %v, %v", m, got, err)
		}
	}
	var m binding.Mapping
	if err := m.UnmarshalText([]byte("camel")); err == nil {
		t.Error("UnmarshalText(camel) succeeded")
	}
}

func TestCredentialsAccessors(t *testing.T) {
	t.Parallel()
	src := map[string]string{"b": "2", "a": "1"}
	c := binding.FromMap(src)
	src["a"] = "changed"
	if v, ok := c.Value("a"); !ok || v != "1" {
		t.Errorf("Value(a) = %q, %v: FromMap did not copy", v, ok)
	}
	m := c.Map()
	m["a"] = "changed"
	if v, _ := c.Value("a"); v != "1" {
		t.Error("Map did not copy")
	}
	if got := c.Keys(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Keys = %v", got)
	}
	j, err := c.JSON()
	if err != nil || string(j) != `{"a":"1","b":"2"}` {
		t.Errorf("JSON = %s, %v", j, err)
	}
	back, err := binding.ParseJSON(j)
	if err != nil || !cmp.Equal(back.Map(), c.Map()) {
		t.Errorf("ParseJSON round trip: %v, %v", back.Map(), err)
	}
	var zero binding.Credentials
	if zero.Len() != 0 || zero.String() != "Credentials{}" || len(zero.Object()) != 0 {
		t.Errorf("zero Credentials: %v", zero)
	}
	if got := binding.Merge(map[string]string{"a": "1", "b": "1"}, map[string]string{"b": "2"}); !cmp.Equal(got, map[string]string{"a": "1", "b": "2"}) {
		t.Errorf("Merge = %v", got)
	}
}
