package kubesecret_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/examples/controller/kubesecret"
)

func TestSecret(t *testing.T) {
	t.Parallel()
	creds, err := binding.Build(t.Context(), map[string]string{"QueueURL": "https://sqs/q", "QueueARN": "arn:aws:sqs:us-east-1:1:q"}, binding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := kubesecret.Secret("ns", "os-blog-sqs-binding", creds, "sqs", "aws")
	if s.Namespace != "ns" || s.Name != "os-blog-sqs-binding" {
		t.Errorf("name %s/%s", s.Namespace, s.Name)
	}
	if s.Type != corev1.SecretType("servicebinding.io/sqs") {
		t.Errorf("type %q, want servicebinding.io/sqs", s.Type)
	}
	want := map[string][]byte{
		"QueueURL": []byte("https://sqs/q"), "QueueARN": []byte("arn:aws:sqs:us-east-1:1:q"),
		"type": []byte("sqs"), "provider": []byte("aws"),
	}
	if diff := cmp.Diff(want, s.Data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}

	// Without a type the Secret is Opaque, as the specification requires a
	// type entry for its own type.
	if s := kubesecret.Secret("ns", "x", creds, "", ""); s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type %q without a type, want Opaque", s.Type)
	}
}
