package credentials_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerkit/brokerkit/credentials"
)

// client stands for an SDK client: it remembers the configuration it was
// built from.
type client struct{ cfg aws.Config }

func TestClientsOnePerTarget(t *testing.T) {
	t.Parallel()
	src := newSource(t, &fakeSTS{})
	var built atomic.Int64
	clients := credentials.NewClients(src, func(cfg aws.Config) *client { built.Add(1); return &client{cfg} })
	ctx := context.Background()
	a := credentials.Target{AccountID: "111111111111", RoleName: "broker", Region: "us-west-2"}
	b := credentials.Target{AccountID: "222222222222", RoleName: "broker", Region: "us-west-2"}

	var wg sync.WaitGroup
	got := make([]*client, 50)
	for i := range got {
		wg.Go(func() {
			c, err := clients.For(ctx, a)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	wg.Wait()
	for i, c := range got {
		if c != got[0] {
			t.Fatalf("call %d got another client for the same target", i)
		}
	}
	cb, err := clients.For(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if cb == got[0] || cb.cfg.Region != "us-west-2" {
		t.Errorf("another account shares the client, or lost its region %q", cb.cfg.Region)
	}
	// The zero Target and one naming the default region share the base client.
	z1, _ := clients.For(ctx, credentials.Target{})
	z2, _ := clients.For(ctx, credentials.Target{Region: "us-east-1"})
	if z1 != z2 || z1.cfg.Region != "us-east-1" {
		t.Errorf("zero and default-region Targets: same %v, region %q", z1 == z2, z1.cfg.Region)
	}
	if n := built.Load(); n != 3 {
		t.Errorf("built %d clients for 3 distinct targets", n)
	}
	if _, err := clients.For(ctx, credentials.Target{AccountID: "12", RoleName: "r"}); !errors.Is(err, credentials.ErrInvalidTarget) {
		t.Errorf("invalid target: %v", err)
	}
}
