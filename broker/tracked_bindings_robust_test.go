package broker_test

import (
	"testing"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/provisioner"
)

// B5/B6: a repeated identical bind (same body from the platform) is 200,
// not 409, even if the instance's outputs changed since (an update).
func TestRobustIdenticalRebindAfterInstanceUpdate(t *testing.T) {
	f := newBindFixture(t, nil)
	ctx := t.Context()
	f.provision(t, "i", bindPlan)
	req := f.bindReq("i", "b", bindPlan, nil)
	f.bind(t, req)

	// The instance is updated; its stack now reports another output value.
	f.instProv.mu.Lock()
	f.instProv.outputs = func(id string) map[string]string {
		return map[string]string{"QueueURL": bindQueueURL, "QueueARN": "arn:q:" + id, "Shared": "instance", "New": "x"}
	}
	f.instProv.mu.Unlock()
	if _, err := f.instances.Update(ctx, provisioner.UpdateRequest{InstanceID: "i", Change: provisioner.Change{Parameters: map[string]any{"x": 1}}}); err != nil {
		t.Fatal(err)
	}
	if op := await(t, f.instances, "i"); op.State != provisioner.Succeeded {
		t.Fatalf("update: %s", op.State)
	}

	res, err := f.b.Bind(ctx, req)
	if err != nil || res.Outcome != broker.Existed {
		t.Fatalf("identical repeated bind after an instance update: %v %v; want Existed (200)", err, res.Outcome)
	}
}
