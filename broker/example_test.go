package broker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

// queues is a tiny backend: every provision starts asynchronously and is
// reported done on the first poll.
type queues struct{}

func (queues) Provision(ctx context.Context, req *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
	return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "create-" + req.InstanceID}, nil
}

func (queues) Update(ctx context.Context, req *broker.UpdateRequest) (broker.UpdateResponse, error) {
	return broker.UpdateResponse{}, broker.ErrConcurrency
}

func (queues) Deprovision(ctx context.Context, req *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
	return broker.DeprovisionResponse{}, broker.ErrInstanceNotFound
}

func (queues) LastOperation(ctx context.Context, req *broker.LastOperationRequest) (broker.LastOperation, error) {
	return broker.LastOperation{State: broker.Succeeded, Description: "queue ready"}, nil
}

func ExampleNew() {
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: "4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468", Name: "sqs", Description: "Amazon SQS queues",
		Plans: []catalog.Plan{{ID: "0a0d7ab4-1e45-4b62-8c38-3d5e5f9a0e41", Name: "standard", Description: "A standard queue"}},
	}}})
	if err != nil {
		panic(err)
	}
	h, err := broker.New(idx, queues{}, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "platform", Password: "secret"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	send := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.SetBasicAuth("platform", "secret")
		req.Header.Set("X-Broker-API-Version", "2.17")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s %s → %d %s", method, path, resp.StatusCode, b)
	}
	provision := `{"service_id":"4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468","plan_id":"0a0d7ab4-1e45-4b62-8c38-3d5e5f9a0e41","organization_guid":"o","space_guid":"s"}`
	send("PUT", "/v2/service_instances/q1", provision)
	send("PUT", "/v2/service_instances/q1?accepts_incomplete=true", provision)
	send("GET", "/v2/service_instances/q1/last_operation?operation=create-q1", "")
	send("DELETE", "/v2/service_instances/q2?accepts_incomplete=true&service_id=4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468&plan_id=0a0d7ab4-1e45-4b62-8c38-3d5e5f9a0e41", "")
	// Output:
	// PUT /v2/service_instances/q1 → 422 {"error":"AsyncRequired","description":"This request requires client support for asynchronous service operations."}
	// PUT /v2/service_instances/q1?accepts_incomplete=true → 202 {"operation":"create-q1"}
	// GET /v2/service_instances/q1/last_operation?operation=create-q1 → 200 {"state":"succeeded","description":"queue ready"}
	// DELETE /v2/service_instances/q2?accepts_incomplete=true&service_id=4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468&plan_id=0a0d7ab4-1e45-4b62-8c38-3d5e5f9a0e41 → 410 {}
}
