// Package accesskeys gives each instance of a wrapped provisioner an IAM
// access key of its own, created through the IAM API when the instance's
// resources are ready and deleted before they are deleted, so that the
// key's secret never sits in a stack output or a template.
//
// Its use is per-binding credentials: a binding's stack (provisioned by a
// second [provisioner.Tracker], see broker.TrackedBindings) creates an IAM
// user with a policy scoped to the instance's resources and outputs the
// user's name; [Keys] wraps that Tracker's provisioner:
//
//	stacks, _ := cloudformation.New(cloudformation.Options{ /* binding templates */ })
//	keys, _ := accesskeys.New(stacks, accesskeys.Options{Client: iam.NewFromConfig(cfg)})
//	bindings, _ := provisioner.New(provisioner.Options{Provisioner: keys, Sealer: sealer, /* … */})
//
// When a create succeeds, Keys deletes any key the user already has (left
// by an earlier attempt that crashed before its result was recorded),
// creates one, and reports its ID as the plain output AccessKeyId and its
// secret as the secret output SecretAccessKey ([provisioner.Observation]
// Secrets), which the Tracker seals with its Sealer: the Tracker must have
// one. [provisioner.Tracker.SecretOutputs] opens it when the binding's
// credentials are built. A delete first deletes every key of the user, so
// access ends at unbind even before the stack is gone (and CloudFormation
// could not delete a user that still has keys).
//
// An update keeps the key. IAM errors while creating or deleting keys are
// retried by the Tracker (the calls are idempotent as described), except
// access-denied and quota errors, which fail the operation with a
// description naming the IAM action and the error code.
//
// # Targets
//
// Instances with a non-zero [credentials.Target] get their keys through
// Options.Clients (credentials.Clients' For method), in the account the
// user lives in.
//
// # Concurrency
//
// Keys is safe for concurrent use if the wrapped provisioner is. The
// Tracker observes one operation at a time per instance, which the
// delete-then-create rule relies on.
package accesskeys
