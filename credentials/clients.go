package credentials

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Clients keeps one SDK client per Target, built once from the Source's
// configuration for it, so that a broker builds its CloudFormation or IAM
// clients once per (account, role, region) and never per request:
//
//	iamClients := credentials.NewClients(src, func(cfg aws.Config) *iam.Client { return iam.NewFromConfig(cfg) })
//	client, err := iamClients.For(ctx, instanceTarget)
//
// Targets that resolve alike (an empty Region and the default region, say)
// share a client. Like the Source's, the cache is not bounded. A Clients
// is safe for concurrent use; concurrent first calls for one Target build
// one client.
type Clients[T any] struct {
	src       *Source
	newClient func(aws.Config) T

	mu sync.Mutex
	m  map[resolved]T
}

// NewClients returns a Clients building each client with newClient from
// src's configuration for its Target.
func NewClients[T any](src *Source, newClient func(aws.Config) T) *Clients[T] {
	return &Clients[T]{src: src, newClient: newClient, m: make(map[resolved]T)}
}

// For returns the client for t, building it on first use. It makes no AWS
// call; an invalid t gives a [*ValidationError].
func (c *Clients[T]) For(ctx context.Context, t Target) (T, error) {
	var zero T
	r, err := c.src.opts.resolve(t)
	if err != nil {
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if client, ok := c.m[r]; ok {
		return client, nil
	}
	cfg, err := c.src.Config(ctx, t)
	if err != nil {
		return zero, err
	}
	client := c.newClient(cfg)
	c.m[r] = client
	return client, nil
}
