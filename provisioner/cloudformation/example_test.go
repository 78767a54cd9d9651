package cloudformation_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// A queue provisioned through the scripted CloudFormation endpoint: the
// stack takes two minutes by the fake's clock; a second instance's stack
// rolls back, and Observe reports the root cause.
func Example() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := provisionertest.New(provisionertest.Options{
		Clock: func() time.Time { return now },
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Parameters["Retention"] == "0" {
				return provisionertest.Script{Delay: time.Minute, Fail: true, FailedResources: []provisionertest.ResourceFailure{
					{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "MessageRetentionPeriod must be at least 60"},
				}}
			}
			return provisionertest.Script{Delay: 2 * time.Minute, Outputs: map[string]string{"QueueURL": "https://sqs.example/q"}}
		},
	})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	index, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "sqs-id", Name: "sqs", Description: "SQS queues",
		Plans: []catalog.Plan{{ID: "standard-id", Name: "standard", Description: "a standard queue"}},
	}}})
	if err != nil {
		panic(err)
	}
	// One limiter per AWS account and region, shared by every client.
	limiter := rate.NewLimiter(5, 10)
	stacks, err := cloudformation.New(cloudformation.Options{
		Client:  cloudformation.NewClient(fake.Config(srv.URL), limiter),
		Catalog: index,
		Templates: cloudformation.StaticTemplates{"standard-id": {
			Body:       `{"Parameters":{"Retention":{"Type":"Number"}},"Resources":{}}`,
			Parameters: map[string]cloudformation.ParameterSpec{"Retention": {Type: "Number"}},
		}},
		BrokerID: "example-broker",
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	provision := func(instanceID string, retention any) (*provisioner.Instance, *provisioner.Operation) {
		inst := &provisioner.Instance{ID: instanceID, ServiceID: "sqs-id", PlanID: "standard-id",
			Parameters: map[string]any{"Retention": retention}}
		op := &provisioner.Operation{ID: "op-" + instanceID, Kind: provisioner.KindProvision, CreatedAt: now}
		start, err := stacks.Create(ctx, op, inst)
		if err != nil {
			panic(err)
		}
		inst.Resource = start.Resource
		return inst, op
	}
	show := func(inst *provisioner.Instance, op *provisioner.Operation) {
		obs, err := stacks.Observe(ctx, provisioner.ObserveRequest{Instance: inst, Operation: op})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s (%s)", inst.ID, obs.State, obs.Status)
		if obs.Description != "" {
			fmt.Printf(": %s", obs.Description)
		}
		if len(obs.Outputs) > 0 {
			fmt.Printf(" %v", obs.Outputs)
		}
		fmt.Println()
	}

	good, goodOp := provision("good", float64(1209600))
	bad, badOp := provision("bad", 0)
	show(good, goodOp)
	now = now.Add(3 * time.Minute)
	show(good, goodOp)
	show(bad, badOp)

	name, _ := stacks.StackName(good)
	fmt.Println(name)
	if s, ok := fake.Stack(name); ok {
		fmt.Println("Retention sent as", s.Parameters["Retention"])
	}
	// Output:
	// good: in progress (CREATE_IN_PROGRESS)
	// good: succeeded (CREATE_COMPLETE) map[QueueURL:https://sqs.example/q]
	// bad: failed (ROLLBACK_COMPLETE): Queue (AWS::SQS::Queue): MessageRetentionPeriod must be at least 60
	// brokerkit-sqs-good
	// Retention sent as 1209600
}

func ExampleStackName() {
	fmt.Println(cloudformation.StackName("brokerkit", "sqs", "6b5e1a4c-08a2-4c36-9b2f-1f7b5d3c2e11"))
	fmt.Println(cloudformation.StackName("brokerkit", "sqs", "my_instance.1"))
	// Output:
	// brokerkit-sqs-6b5e1a4c-08a2-4c36-9b2f-1f7b5d3c2e11
	// brokerkit-sqs-myinstance1-7da5b78f
}

func ExampleParameterValue() {
	for _, v := range []any{float64(1209600), true, []any{"a", "b"}} {
		s, err := cloudformation.ParameterValue("P", "CommaDelimitedList", v)
		fmt.Printf("%q %v\n", s, err)
	}
	_, err := cloudformation.ParameterValue("Tags", "String", map[string]any{"k": "v"})
	fmt.Println(err)
	// Output:
	// "1209600" <nil>
	// "true" <nil>
	// "a,b" <nil>
	// cloudformation: parameter "Tags": is an object; CloudFormation parameters are strings, numbers, booleans or (for list types) arrays of those
}

// Clients for one AWS account and region share one rate limiter, so that
// every attempt of every call, retries included, counts against it.
func ExampleNewClient() {
	limiter := rate.NewLimiter(2, 5)       // per account and region, kept by the broker
	cfg := aws.Config{Region: "us-east-1"} // from config.LoadDefaultConfig in a real broker
	provisioning := cloudformation.NewClient(cfg, limiter)
	polling := cloudformation.NewClient(cfg, limiter)
	var _ cloudformation.API = provisioning
	fmt.Println(provisioning.Options().Region, polling.Options().Region)
	// Output: us-east-1 us-east-1
}
