// Package reconciler is a Kubernetes controller built on brokerkit without
// any OSB HTTP in between: its reconcilers call a [provisioner.Tracker]
// directly. A ServiceInstance is an instance of the instances' Tracker (a
// CloudFormation stack), a ServiceBinding a record of a second Tracker with a
// Store of its own (a stack with an IAM user whose policy allows exactly the
// instance's queue), plus an access key, written with the instances' outputs
// to a Secret of type servicebinding.io/<type> that the binding owns.
//
// # Usage
//
//	err := reconciler.Setup(mgr, reconciler.Options{
//		Catalog:   idx,
//		Instances: instances, // provisioner.New over store.OpenBolt("instances.db", …)
//		Bindings:  bindings,  // provisioner.New over store.OpenBolt("bindings.db", …)
//		BindingParameters: func(planID string) []string { return []string{"QueueARN"} },
//		AccessKeys: &reconciler.IAMAccessKeys{IAM: iam.NewFromConfig(cfg)},
//	})
//
// Setup registers both reconcilers and a manager Runnable per Tracker that
// runs its Run loop, so the operations a previous process left in flight
// resume when the manager starts (and, with leader election, only on the
// leader).
//
// # Status
//
// Both kinds report two conditions. Ready is True once the resource is
// usable; while it is False its reason says why: Provisioning, Binding,
// Deprovisioning, InstanceNotReady, BindingsExist, or BackendError for a
// problem the controller retries on its own. Stalled is True when nothing
// changes until the spec does: ProvisionFailed and BindFailed (the message is
// the root cause CloudFormation reported), UpdateFailed, InvalidSpec (an
// unknown service or plan, parameters that break the plan's schema) and
// SecretConflict. Every condition carries the generation it judged.
//
// # Deletion
//
// Both kinds carry the finalizer [v1alpha1.Finalizer]. Deleting a binding
// revokes its access keys, deletes its Secret and its stack, then removes the
// finalizer; deleting an instance waits for its bindings to be gone, then
// deletes its stack. A failed provision is deleted the same way, or replaced
// when the spec changes.
//
// # Concurrency
//
// The reconcilers are safe for concurrent use, and several workers may run:
// the Trackers' compare-and-swap decides between concurrent calls for one
// resource.
package reconciler
