// Package reconciler is a Kubernetes controller built on brokerkit without
// any OSB HTTP in between: its reconcilers call a [provisioner.Tracker]
// directly. A ServiceInstance is an instance of the instances' Tracker (a
// CloudFormation stack), a ServiceBinding a record of a second Tracker with a
// Store of its own (a stack with an IAM user whose policy allows exactly the
// instance's queue, given an access key by the [accesskeys] wrapper), written
// with the instance's outputs to a Secret of type servicebinding.io/<type>
// that the binding owns.
//
// # Usage
//
//	keys, _ := accesskeys.New(bindingStacks, accesskeys.Options{Client: iam.NewFromConfig(cfg)})
//	sealer, _ := provisioner.NewAESSealer(key) // a key that outlives the process: see package sealerkey
//	bindings, _ := provisioner.New(provisioner.Options{Provisioner: keys, Sealer: sealer,
//		Store: boltBindings /* store.OpenBolt("bindings.db", …) */, …})
//	err := reconciler.Setup(mgr, reconciler.Options{
//		Catalog:   idx,
//		Instances: instances, // provisioner.New over store.OpenBolt("instances.db", …)
//		Bindings:  bindings,
//		BindingParameters: func(planID string) []string { return []string{"QueueARN"} },
//	})
//
// The Secret holds the instance's outputs, the binding's and its sealed
// outputs (the key's SecretAccessKey, opened by the Tracker's
// SecretOutputs), as the service's credentials spec maps them
// (binding.OptionsFor): it is built again from the stores whenever the
// binding is reconciled.
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
// deletes its Secret, then its record: the wrapper deletes the user's access
// keys before the stack's delete starts. Then the finalizer goes; deleting an instance waits for its bindings to be gone, then
// deletes its stack. A failed provision is deleted the same way, or replaced
// when the spec changes.
//
// # Concurrency
//
// The reconcilers are safe for concurrent use, and several workers may run:
// the Trackers' compare-and-swap decides between concurrent calls for one
// resource.
package reconciler
