// Package provisioner turns minutes-long backend work (CloudFormation
// stacks) into correct Open Service Broker answers: a [Provisioner]
// interface for backends, a [Store] of instance records written before
// every backend call, and a [Tracker] that starts operations, polls them
// in the background and answers last_operation from the store.
//
// See the Tracker's documentation for the operation life cycle and the
// guarantees after a crash.
package provisioner
