package dynamodb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/brokerkit/brokerkit/internal/mototest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store/dynamodb"
	"github.com/brokerkit/brokerkit/provisioner/store/storetest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// table is one table on the test binary's moto server, created once;
// each store gets a namespace of its own on it, which also checks that
// namespaces keep stores apart.
var table struct {
	once sync.Once
	name string
	err  error
}

func client(t testing.TB) *ddb.Client {
	t.Helper()
	return ddb.NewFromConfig(mototest.Config(t, mototest.Endpoint(t)))
}

func sharedTable(t testing.TB) (*ddb.Client, string) {
	t.Helper()
	c := client(t)
	table.once.Do(func() {
		table.name = "brokerkit-test-" + randomHex(4)
		table.err = dynamodb.CreateTable(context.Background(), c, table.name)
	})
	if table.err != nil {
		t.Fatal(table.err)
	}
	return c, table.name
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newStore(t testing.TB) *dynamodb.Store {
	t.Helper()
	c, name := sharedTable(t)
	s, err := dynamodb.New(dynamodb.Options{Client: c, Table: name, Namespace: "ns-" + randomHex(6)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioner.Store { return newStore(t) })
}

func TestLeaserContract(t *testing.T) {
	storetest.RunLeaser(t, func(t *testing.T) provisioner.Leaser { return newStore(t) })
}

// TestNamespaces checks that two stores on one table see only their own
// records, in Get, InFlight and Expired, and their own leases.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	a, b := newStore(t), newStore(t)
	ctx := t.Context()
	rec := &provisioner.Record{InstanceID: "same-id", Operation: &provisioner.Operation{ID: "op", State: provisioner.InProgress}}
	if err := a.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "same-id"); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("b.Get of a's record = %v, want ErrNotFound", err)
	}
	if fl, err := b.InFlight(ctx); err != nil || len(fl) != 0 {
		t.Errorf("b.InFlight = %d records, %v; want none", len(fl), err)
	}
	tomb := &provisioner.Record{InstanceID: "tomb", Deleted: true, Operation: &provisioner.Operation{ID: "op", State: provisioner.Succeeded}}
	if err := a.Put(ctx, tomb); err != nil {
		t.Fatal(err)
	}
	if ids, err := b.Expired(ctx, tomb.ExpiresAt.AddDate(1, 0, 0)); err != nil || len(ids) != 0 {
		t.Errorf("b.Expired = %v, %v; want none", ids, err)
	}
	if ids, err := a.Expired(ctx, tomb.ExpiresAt.AddDate(1, 0, 0)); err != nil || len(ids) != 1 {
		t.Errorf("a.Expired = %v, %v; want [tomb]", ids, err)
	}
	l := provisioner.Lease{InstanceID: "same-id", OperationID: "op", Owner: "a", Until: tomb.ExpiresAt.AddDate(3000, 0, 0)}
	if err := a.Claim(ctx, l, l.Until.AddDate(-1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	l.Owner = "b"
	if err := b.Claim(ctx, l, l.Until.AddDate(-1, 0, 0)); err != nil {
		t.Errorf("b.Claim of the ID a leased in its namespace = %v, want nil", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []dynamodb.Options{
		{Table: "t"},
		{Client: &ddb.Client{}},
		{Client: &ddb.Client{}, Table: "t", Namespace: "a:b"},
	} {
		if _, err := dynamodb.New(o); !errors.Is(err, dynamodb.ErrInvalidOptions) {
			t.Errorf("New(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// lostAnswer is a Client whose PutItem is sent twice, the first answer
// lost: what the SDK's retry does after a 5xx or a broken connection
// once the first attempt was written.
type lostAnswer struct{ *ddb.Client }

func (c lostAnswer) PutItem(ctx context.Context, in *ddb.PutItemInput, optFns ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	if _, err := c.Client.PutItem(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return c.Client.PutItem(ctx, in, optFns...)
}

// TestPutRetriedAfterItLanded: a Put whose first attempt was written and
// whose retry then fails its condition on that very write succeeds, once;
// another writer's version is still a conflict.
func TestPutRetriedAfterItLanded(t *testing.T) {
	c, name := sharedTable(t)
	ns := "ns-" + randomHex(6)
	s, err := dynamodb.New(dynamodb.Options{Client: lostAnswer{c}, Table: name, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rec := &provisioner.Record{InstanceID: "i-1", ServiceID: "s", PlanID: "p",
		Operation: &provisioner.Operation{ID: "op-1", Kind: provisioner.KindProvision, State: provisioner.InProgress}}
	if err := s.Put(ctx, rec); err != nil || rec.Version != 1 {
		t.Fatalf("create with a lost answer: %v, version %d; want success at version 1", err, rec.Version)
	}
	rec.Operation.State = provisioner.Succeeded
	if err := s.Put(ctx, rec); err != nil || rec.Version != 2 {
		t.Fatalf("update with a lost answer: %v, version %d; want success at version 2", err, rec.Version)
	}
	got, err := s.Get(ctx, "i-1")
	if err != nil || got.Version != 2 || got.Operation.State != provisioner.Succeeded {
		t.Fatalf("stored: %+v, %v", got, err)
	}
	// A stale writer (version 1, other content) still conflicts.
	stale := got.Clone()
	stale.Version = 1
	stale.PlanID = "other"
	if err := s.Put(ctx, stale); !errors.Is(err, provisioner.ErrVersionConflict) {
		t.Errorf("stale write: %v, want ErrVersionConflict", err)
	}
}
