package brokertest_test

import (
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// TestConformance is how a broker author runs the suite against their own
// handler: here, the handler over the in-memory reference backend. (It is
// a test rather than an Example because Run needs the *testing.T that only
// a test gets.)
func TestConformance(t *testing.T) {
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468", Name: "sqs", Description: "Amazon SQS queues",
		Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true,
		Plans: []catalog.Plan{{ID: "0a0d7ab4-1e45-4b62-8c38-3d5e5f9a0e41", Name: "standard", Description: "A standard queue"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	async := broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision
	h, err := broker.New(idx, brokertest.NewMemory(idx, brokertest.MemoryOptions{Async: true}), broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "platform", Password: "secret"}),
		RequireAsync:  async,
	})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Run(t, h, brokertest.Config{Username: "platform", Password: "secret", Async: true, RequireAsync: async,
		PollOptions: brokertest.PollOptions{Interval: 10 * time.Millisecond}})
}
