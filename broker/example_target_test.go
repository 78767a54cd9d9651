package broker_test

import (
	"context"
	"fmt"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
)

// A Tracked.Target that takes an instance's account from, in order: the
// plan (a "dedicated" plan always goes to one account), the request's
// target_account_id parameter, or the broker's own account.
func ExampleTracked_target() {
	planAccounts := map[string]string{"plan-dedicated": "222222222222"}
	base := credentials.Target{RoleName: "brokerkit-target", ExternalID: "from-a-secret-file", Region: "eu-west-1"}
	target := func(_ context.Context, req *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error) {
		if account, ok := planAccounts[req.Plan.ID]; ok {
			t := base
			t.AccountID = account
			return t, req.Parameters, nil
		}
		return credentials.FromParameters(base, req.Parameters)
	}
	_ = &broker.Tracked{Target: target} // with Tracker set, serve it with broker.New

	for _, req := range []*broker.ProvisionRequest{
		{Plan: &catalog.Plan{ID: "plan-dedicated"}},
		{Plan: &catalog.Plan{ID: "plan-shared"}, Parameters: broker.Parameters{"target_account_id": "111111111111", "QueueName": "q"}},
		{Plan: &catalog.Plan{ID: "plan-shared"}, Parameters: broker.Parameters{"QueueName": "q"}},
		{Plan: &catalog.Plan{ID: "plan-shared"}, Parameters: broker.Parameters{"target_account_id": "42"}},
	} {
		t, params, err := target(context.Background(), req)
		fmt.Println(t, params, err)
	}
	// Output:
	// Target{account=222222222222 role=brokerkit-target region=eu-west-1 external_id=[redacted]} Parameters{} <nil>
	// Target{account=111111111111 role=brokerkit-target region=eu-west-1 external_id=[redacted]} Parameters{QueueName:[redacted]} <nil>
	// Target{broker identity} Parameters{QueueName:[redacted]} <nil>
	// Target{broker identity} Parameters{} credentials: invalid target_account_id: "42" is not 12 digits
}
