package cloudformation_test

import (
	"context"
	"errors"
	"testing"

	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// TestTargetsReachTheirOwnAccount runs instances of two accounts over
// two scripted endpoints, one per account: each instance's create,
// observe (single and batched) and delete reach its own account only.
func TestTargetsReachTheirOwnAccount(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	own, ownSrv := provisionertest.NewServer(t, provisionertest.Options{Clock: c.Now})
	other, otherSrv := provisionertest.NewServer(t, provisionertest.Options{Clock: c.Now})
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker", Region: "eu-west-1"}
	var asked []credentials.Target
	s, err := cloudformation.New(cloudformation.Options{
		Client: cfn.NewFromConfig(own.Config(ownSrv.URL)),
		Clients: func(_ context.Context, t credentials.Target) (cloudformation.API, error) {
			asked = append(asked, t)
			return cfn.NewFromConfig(other.Config(otherSrv.URL)), nil
		},
		Catalog: sqsCatalog(t), Templates: sqsTemplates(), BrokerID: "fake-test", BatchMin: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var insts []*provisioner.Instance
	for i, id := range []string{"own-1", "own-2", "other-1", "other-2"} {
		inst := sqsInstance(id)
		if i >= 2 {
			inst.Target = target
		}
		start, err := s.Create(ctx, &provisioner.Operation{ID: "op-" + id, Kind: provisioner.KindProvision, CreatedAt: c.Now()}, inst)
		if err != nil {
			t.Fatalf("Create %s: %v", id, err)
		}
		inst.Resource = start.Resource
		insts = append(insts, inst)
	}
	if n, m := len(own.Stacks()), len(other.Stacks()); n != 2 || m != 2 {
		t.Fatalf("stacks: %d in the broker's account, %d in the target's; want 2 and 2", n, m)
	}
	for _, a := range asked {
		if a != target {
			t.Errorf("Clients asked for %v, want %v", a, target)
		}
	}

	// A batch of both accounts lists each account once.
	c.Advance(10 * 60e9)
	reqs := make([]provisioner.ObserveRequest, len(insts))
	for i, inst := range insts {
		reqs[i] = provisioner.ObserveRequest{Instance: inst, Operation: &provisioner.Operation{ID: "op-" + inst.ID, Kind: provisioner.KindProvision, CreatedAt: c.Now()}}
	}
	obs, errs := s.ObserveBatch(ctx, reqs)
	for i := range reqs {
		if errs[i] != nil || obs[i].State != provisioner.Succeeded {
			t.Errorf("%s: %+v, %v", insts[i].ID, obs[i], errs[i])
		}
	}
	if n, m := own.Calls()["DescribeStacks"], other.Calls()["DescribeStacks"]; n != 1 || m != 1 {
		t.Errorf("DescribeStacks calls: %d in the broker's account, %d in the target's; want one listing each", n, m)
	}

	for _, inst := range insts[2:] {
		if _, err := s.Delete(ctx, &provisioner.Operation{ID: "del-" + inst.ID, Kind: provisioner.KindDeprovision, CreatedAt: c.Now()}, inst); err != nil {
			t.Fatal(err)
		}
	}
	if other.Calls()["DeleteStack"] != 2 || own.Calls()["DeleteStack"] != 0 {
		t.Errorf("DeleteStack calls: %d in the target's account, %d in the broker's; want 2 and 0", other.Calls()["DeleteStack"], own.Calls()["DeleteStack"])
	}
}

func TestTargetWithoutClientsIsRefused(t *testing.T) {
	e := newFake(t, provisionertest.Options{})
	inst := sqsInstance("x")
	inst.Target = credentials.Target{AccountID: "111111111111", RoleName: "broker"}
	_, err := e.stacks.Create(context.Background(), e.op("op-x", provisioner.KindProvision), inst)
	var te *provisioner.TerminalError
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
		t.Errorf("Create with a Target and no Clients: %v, want a terminal invalid error", err)
	}
	if len(e.cf.Stacks()) != 0 {
		t.Error("a stack was created")
	}
}
