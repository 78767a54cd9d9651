package broker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// A broker that provisions through CloudFormation: a catalog, the
// CloudFormation provisioner, a store and a Tracker, served as OSB. The
// scripted fake stands in for CloudFormation (point NewClient at a real
// aws.Config instead).
func ExampleTracked() {
	fake := provisionertest.New(provisionertest.Options{Script: func(provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Delay: 50 * time.Millisecond, Outputs: map[string]string{"QueueURL": "https://sqs.example/q1"}}
	}})
	cfnEndpoint := httptest.NewServer(fake)
	defer cfnEndpoint.Close()

	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "sqs-id", Name: "sqs", Description: "Amazon SQS queues", InstancesRetrievable: true,
		Plans: []catalog.Plan{{ID: "standard-id", Name: "standard", Description: "A standard queue"}},
	}}})
	if err != nil {
		panic(err)
	}
	stacks, err := cloudformation.New(cloudformation.Options{
		Client:  cloudformation.NewClient(fake.Config(cfnEndpoint.URL), rate.NewLimiter(10, 20)),
		Catalog: idx,
		Templates: cloudformation.StaticTemplates{"standard-id": {
			Body: `{"Resources":{"Queue":{"Type":"AWS::SQS::Queue"}},"Outputs":{"QueueURL":{"Value":{"Ref":"Queue"}}}}`,
		}},
	})
	if err != nil {
		panic(err)
	}
	tracker, err := provisioner.New(provisioner.Options{Store: store.NewMemory(), Provisioner: stacks, Catalog: idx,
		PollInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tracker.Run(ctx)

	h, err := broker.New(idx, &broker.Tracked{Tracker: tracker}, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "platform", Password: "secret"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The platform's side.
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "platform", Password: "secret"})
	resp, err := c.Provision(ctx, brokertest.ProvisionRequest{InstanceID: "q1", ServiceID: "sqs-id", PlanID: "standard-id",
		OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("provision:", resp.StatusCode)
	lo, err := c.PollLastOperation(ctx, "q1", resp.Value.Operation, brokertest.PollOptions{Interval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Println("last_operation:", lo.State)
	for _, s := range fake.Stacks() {
		fmt.Println("stack:", s.Name, s.Status)
	}
	// Output:
	// provision: 202
	// last_operation: succeeded
	// stack: brokerkit-sqs-q1 CREATE_COMPLETE
}
