package brokertest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// A platform's conversation with a broker, backed by a Memory: an
// asynchronous provision polled to its end, a bind, and a deprovision.
func Example() {
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "0a6c5d6e-0000-4000-8000-000000000001", Name: "db", Description: "A database.", Bindable: true,
		Plans: []catalog.Plan{{ID: "0a6c5d6e-0000-4000-8000-000000000002", Name: "small", Description: "A small one."}},
	}}})
	if err != nil {
		panic(err)
	}
	backend := brokertest.NewMemory(idx, brokertest.MemoryOptions{Async: true})
	h, err := broker.New(idx, backend, broker.Options{Authenticator: broker.BasicAuth(broker.Credential{Username: "cf", Password: "secret"})})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx := context.Background()
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "cf", Password: "secret"})
	const (
		service = "0a6c5d6e-0000-4000-8000-000000000001"
		plan    = "0a6c5d6e-0000-4000-8000-000000000002"
	)

	prov, err := c.Provision(ctx, brokertest.ProvisionRequest{
		InstanceID: "instance-1", ServiceID: service, PlanID: plan,
		OrganizationGUID: "org-1", SpaceGUID: "space-1",
		Parameters:        broker.Parameters{"size": 1},
		AcceptsIncomplete: true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("provision:", prov.StatusCode, prov.Value.Operation)

	lo, err := c.PollLastOperation(ctx, "instance-1", prov.Value.Operation, brokertest.PollOptions{Interval: time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Println("last operation:", lo.State)

	bind, err := c.Bind(ctx, brokertest.BindRequest{InstanceID: "instance-1", BindingID: "binding-1", ServiceID: service, PlanID: plan})
	if err != nil {
		panic(err)
	}
	fmt.Println("bind:", bind.StatusCode, bind.Value.Credentials) // credentials print their keys only

	again, err := c.Provision(ctx, brokertest.ProvisionRequest{
		InstanceID: "instance-1", ServiceID: service, PlanID: plan,
		OrganizationGUID: "org-1", SpaceGUID: "space-2", AcceptsIncomplete: true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("conflict:", again.Err())

	del, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: "instance-1", ServiceID: service, PlanID: plan, AcceptsIncomplete: true})
	if err != nil {
		panic(err)
	}
	lo, err = c.PollLastOperation(ctx, "instance-1", del.Value.Operation, brokertest.PollOptions{Interval: time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Println("deprovision:", del.StatusCode, lo.State)

	gone, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: "instance-1", ServiceID: service, PlanID: plan, AcceptsIncomplete: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("deprovision again:", gone.StatusCode)
	// Output:
	// provision: 202 op-1
	// last operation: succeeded
	// bind: 201 Credentials{password:[redacted] username:[redacted]}
	// conflict: brokertest: PUT /v2/service_instances/instance-1: 409 Conflict: A Service Instance with this ID already exists with different attributes.
	// deprovision: 202 succeeded
	// deprovision again: 410
}
