// Package templates holds the CloudFormation template of the example
// controller's SQS bindings: an IAM user whose inline policy "queue-access"
// allows exactly sqs:SendMessage, ReceiveMessage, DeleteMessage and
// ChangeMessageVisibility on the instance's queue, whose ARN (the instance
// output QueueARN) is the template's one parameter. It creates no access key:
// a key's secret must never sit in a stack output.
package templates

import (
	_ "embed"
	"maps"
	"slices"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
)

//go:embed sqs-binding.json
var sqsBinding string

// PolicyName is the name of the binding user's inline policy.
const PolicyName = "queue-access"

// SQSBinding returns the binding template.
func SQSBinding() cloudformation.Template {
	return cloudformation.Template{
		ID:           "sqs-binding-v1",
		Body:         sqsBinding,
		Parameters:   map[string]cloudformation.ParameterSpec{"QueueARN": {Type: "String"}},
		Capabilities: []string{"CAPABILITY_IAM"},
	}
}

// Bindings returns the binding templates for every plan of the service
// named service in c, by plan ID, as the bindings' Stacks takes them.
func Bindings(c *catalog.Catalog, service string) cloudformation.StaticTemplates {
	out := cloudformation.StaticTemplates{}
	for _, svc := range c.Services {
		if svc.Name != service {
			continue
		}
		for _, p := range svc.Plans {
			out[p.ID] = SQSBinding()
		}
	}
	return out
}

// Parameters returns the parameter names of the templates' plans, as
// reconciler.Options.BindingParameters takes them.
func Parameters(ts cloudformation.StaticTemplates) func(planID string) []string {
	return func(planID string) []string {
		return slices.Sorted(maps.Keys(ts[planID].Parameters))
	}
}
