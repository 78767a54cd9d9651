// Package provisioner turns minutes-long backend work (CloudFormation
// stacks) into correct Open Service Broker answers: a [Provisioner]
// interface for backends, a [Store] of instance records written before
// every backend call, and a [Tracker] that starts operations, polls them
// in the background and answers last_operation from the store.
//
// # Usage
//
//	tracker, err := provisioner.New(provisioner.Options{
//		Store:       db,     // store.OpenBolt("state.db", store.BoltOptions{})
//		Provisioner: stacks, // cloudformation.New(...)
//		Catalog:     idx,
//	})
//	go tracker.Run(ctx) // resumes what a previous process left in flight
//	res, err := tracker.Provision(ctx, provisioner.ProvisionRequest{InstanceID: id, ServiceID: s, PlanID: p})
//	st, err := tracker.LastOperation(ctx, id, res.Operation.ID)
//
// broker.Tracked serves a Tracker as an OSB backend; a platform controller
// calls the same methods directly.
//
// # Guarantees
//
// An accepted operation is in the Store before the backend is called,
// and backends are idempotent per operation (CloudFormation: a request
// token derived from the operation ID), so a crash at any point leaves
// neither an instance without its record nor a duplicate resource. Two
// requests cannot both start an operation on one instance: the Store's
// compare-and-swap decides, not an in-process lock. Operations still in
// progress after the plan's maximum_polling_duration (or
// Options.OperationTimeout) fail, so nothing stays in progress forever.
// Secret (writeOnly) parameters are stored as salted digests, and sealed
// only if a [Sealer] is configured.
//
// # Concurrency
//
// A Tracker is safe for concurrent use; run one Run loop per Tracker. A
// Store belongs to one Tracker (or to replicas of one). Replicas on a
// Store that is a [Leaser] divide the operations in flight: each claims
// an operation's lease before it starts or polls it, leaves alone those
// leased by a live other replica, and lists the operations in flight
// once per Options.LeaseDuration to take over those of a replica that
// died. Without a Leaser every Tracker polls every operation it knows. The zero Tracker
// is not usable: build one with [New].
package provisioner
