package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/brokerkit/brokerkit/credentials"
)

// Kind is the kind of an operation.
type Kind string

// The kinds of instance operation.
const (
	KindProvision   Kind = "provision"
	KindUpdate      Kind = "update"
	KindDeprovision Kind = "deprovision"
)

// State is the state of an operation, as the OSB API names it.
type State string

// The three states.
const (
	InProgress State = "in progress"
	Succeeded  State = "succeeded"
	Failed     State = "failed"
)

// Terminal reports whether s is Succeeded or Failed.
func (s State) Terminal() bool { return s == Succeeded || s == Failed }

// Instance is what a [Provisioner] knows of an instance: the catalog
// entries, the platform's attributes and the handle of its resources.
type Instance struct {
	ID               string
	ServiceID        string
	PlanID           string
	OrganizationGUID string
	SpaceGUID        string
	// Parameters are the user's parameters. Values of secret parameters
	// are present only while the request that carried them is being
	// served (or when a [Sealer] kept them); otherwise they are absent and
	// a backend reuses what it stored (CloudFormation: UsePreviousValue).
	Parameters map[string]any
	Context    map[string]any
	// Resource is the backend's handle for the instance's resources
	// (a CloudFormation stack ID), empty until a Create returned one.
	Resource string
	// Outputs are the resources' outputs after the last successful
	// operation (without the secret ones, see [Observation.Secrets]).
	Outputs map[string]string
	// Target is the account, role and region the resources live in; the
	// zero Target is the broker's own identity. A backend builds its
	// clients for it (see credentials.Source).
	Target credentials.Target
}

// Change is what an update asks for. Empty fields change nothing.
type Change struct {
	// PlanID is the new plan, or "" to keep the plan.
	PlanID string `json:"plan_id,omitempty"`
	// Parameters holds only the parameters the user specified.
	Parameters map[string]any `json:"parameters,omitempty"`
	// MaintenanceVersion, when set, asks for the plan's current template
	// (an upgrade); otherwise the instance keeps the template it was
	// created from.
	MaintenanceVersion string `json:"maintenance_version,omitempty"`
}

// Start is a backend's answer to starting an operation.
type Start struct {
	// Resource is the handle of the resources the operation works on (a
	// stack ID). Create must set it; Update and Delete may leave it empty
	// to keep the instance's.
	Resource string
	// Template identifies the template the resources are (or will be)
	// built from, when the backend pins one per instance (CloudFormation:
	// a hash of the template body). Empty leaves the instance's as is.
	Template string
	// Done reports that the operation finished in the call (an update
	// with nothing to change, a delete of resources that do not exist).
	Done bool
}

// Observation is the state of an instance's resources, judged for one
// operation.
type Observation struct {
	State State
	// Status is the backend's own status word (e.g. CREATE_COMPLETE), for
	// logs and descriptions.
	Status string
	// Description is for users: on failure, the root cause. It holds no
	// secret.
	Description string
	// Outputs are the resources' outputs, read when State is Succeeded.
	Outputs map[string]string
	// Secrets are outputs that must not be stored in plain text (the
	// secret of an access key created for a binding). The Tracker seals
	// them with its [Sealer] into [Record.SealedOutputs] (a Tracker
	// without one fails the operation, since it could not keep them) and
	// [Tracker.SecretOutputs] opens them. Set only with State Succeeded;
	// on an update, nil keeps the instance's.
	Secrets map[string]string
	// InstanceUsable and UpdateRepeatable qualify a failed update or
	// deprovision; nil means the OSB default (true).
	InstanceUsable   *bool
	UpdateRepeatable *bool
}

// ObserveRequest asks for the state of one instance's resources as seen
// by one of its operations.
type ObserveRequest struct {
	Instance  *Instance
	Operation *Operation
}

// Provisioner creates, updates, deletes and observes the resources of
// instances (crossplane's ExternalClient is its model). Every method is
// non-blocking (it starts work and returns), idempotent for one operation
// (called again with the same Operation after a crash, it starts nothing
// new and answers as the first call would have), and never reports
// "already exists" for resources of its own.
//
// Errors are judged by behaviour: an error with RetryableError() true (or
// not classified at all) is retried by the [Tracker]; one wrapped in
// [Terminal] is not.
type Provisioner interface {
	Create(ctx context.Context, op *Operation, inst *Instance) (Start, error)
	Update(ctx context.Context, op *Operation, inst *Instance, change Change) (Start, error)
	Delete(ctx context.Context, op *Operation, inst *Instance) (Start, error)
	Observe(ctx context.Context, req ObserveRequest) (Observation, error)
}

// BatchObserver is implemented by provisioners that observe many
// instances in fewer calls than one each (CloudFormation: one paged
// DescribeStacks). The [Tracker] uses it when it is due to poll several
// operations at once. Results and errors are index-aligned with reqs; a
// nil errs means no per-request error.
type BatchObserver interface {
	ObserveBatch(ctx context.Context, reqs []ObserveRequest) (obs []Observation, errs []error)
}

// TerminalError marks an error that retrying cannot fix (a quota, an
// invalid template or parameter). Its Kind says how the OSB API should
// answer it.
type TerminalError struct {
	// Reason classifies the error.
	Reason Reason
	Err    error
}

// Reason classifies a [TerminalError].
type Reason uint8

// The reasons.
const (
	// ReasonInvalid: the request cannot work as asked (a parameter the
	// backend rejects). The platform gets 400.
	ReasonInvalid Reason = iota + 1
	// ReasonRefused: the instance's state or an account limit does not
	// allow the change now. The platform gets 422.
	ReasonRefused
)

// Error returns the cause's text.
func (e *TerminalError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *TerminalError) Unwrap() error { return e.Err }

// RetryableError is false: that is what Terminal means.
func (e *TerminalError) RetryableError() bool { return false }

// Terminal wraps err as a [TerminalError] with reason r.
func Terminal(r Reason, err error) error {
	if err == nil {
		return nil
	}
	return &TerminalError{Reason: r, Err: err}
}

// IsRetryable reports whether err may go away by trying again: true unless
// err (or an error it wraps) says RetryableError() false, or ctx ended.
func IsRetryable(err error) bool {
	var r interface{ RetryableError() bool }
	if errors.As(err, &r) {
		return r.RetryableError()
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Clock tells the time; tests pass a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
