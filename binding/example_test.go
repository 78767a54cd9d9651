package binding_test

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/brokerkit/brokerkit/binding"
)

// Build SQS credentials from a stack's outputs and the broker's own
// additions, then render a servicebinding.io Secret.
func Example() {
	outputs := map[string]string{
		"QueueURL":           "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
		"QueueARN":           "arn:aws:sqs:us-east-1:123456789012:orders",
		"DeadLetterQueueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq",
	}
	creds, err := binding.Build(context.Background(), outputs, binding.Options{
		Mapping: binding.ServiceBinding,
		Extra: map[string]string{
			"region":                "us-east-1",
			"aws-access-key-id":     "AKIAEXAMPLE",
			"aws-secret-access-key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		},
		Transforms: []binding.Transform{binding.RenameKey{From: "queue-url", To: "uri"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(creds) // keys only

	data, secretType := binding.ServiceBindingSecret(creds, "sqs", "aws")
	fmt.Println(secretType)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		if k == "aws-secret-access-key" {
			continue // a secret: not printed
		}
		fmt.Printf("%s: %s\n", k, data[k])
	}
	// Output:
	// Credentials{aws-access-key-id:[redacted] aws-secret-access-key:[redacted] dead-letter-queue-url:[redacted] queue-arn:[redacted] region:[redacted] uri:[redacted]}
	// servicebinding.io/sqs
	// aws-access-key-id: AKIAEXAMPLE
	// dead-letter-queue-url: https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq
	// provider: aws
	// queue-arn: arn:aws:sqs:us-east-1:123456789012:orders
	// region: us-east-1
	// type: sqs
	// uri: https://sqs.us-east-1.amazonaws.com/123456789012/orders
}
