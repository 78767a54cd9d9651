package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/brokerkit/brokerkit/credentials"
)

// Operation is one accepted provision, update or deprovision. It is
// written to the [Store] before the backend is called, so that a crash
// between the call and the bookkeeping loses nothing.
type Operation struct {
	// ID is the token the platform echoes when polling: URL-safe, unique.
	// Backends derive idempotency tokens (ClientRequestToken) from it.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// State is InProgress until the operation ends.
	State       State  `json:"state"`
	Description string `json:"description,omitempty"`
	// InstanceUsable and UpdateRepeatable qualify a failed update or
	// deprovision.
	InstanceUsable   *bool `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool `json:"update_repeatable,omitempty"`
	// Started reports that the backend accepted the start call. An
	// operation found in the store with Started false is started (again,
	// idempotently) by the Tracker.
	Started bool `json:"started,omitempty"`
	// After is set on a deprovision accepted while the provision or update
	// before it was still running: the kind of that operation. The Tracker
	// starts the delete once that settles, and then clears After.
	// AfterStarted reports whether that operation's start call succeeded.
	After        Kind `json:"after,omitempty"`
	AfterStarted bool `json:"after_started,omitempty"`
	// Attempts counts start calls; LastAttempt is the time of the latest.
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// Change is what an update asked for, kept to restart it after a
	// crash and to apply it to the record when it succeeds.
	Change *Change `json:"change,omitempty"`
	// Template is the template an update applies, recorded on the
	// instance when it succeeds.
	Template string `json:"template,omitempty"`
	// Status is the backend's last status word, for logs.
	Status     string    `json:"status,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// NextPoll is when the Tracker first looks at a started operation.
	// Later polls are scheduled in memory only (a poll round writes
	// nothing), and last_operation's Retry-After reads that schedule.
	NextPoll time.Time `json:"next_poll,omitzero"`
}

// Record is what the store keeps of an instance.
type Record struct {
	InstanceID       string         `json:"instance_id"`
	ServiceID        string         `json:"service_id"`
	PlanID           string         `json:"plan_id"`
	OrganizationGUID string         `json:"organization_guid"`
	SpaceGUID        string         `json:"space_guid"`
	Context          map[string]any `json:"context,omitempty"`
	// Parameters are the instance's parameters without secret values.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Secrets holds, for each secret parameter, a salted digest (to tell
	// a repeated request from a conflicting one) and, if a [Sealer] is
	// configured, the sealed value (to restart an interrupted operation).
	// Keys with the prefix "pending:" belong to the update in progress and
	// replace their unprefixed twins when it succeeds.
	Secrets map[string]SecretValue `json:"secrets,omitempty"`
	// Resource is the backend's handle (a stack ID).
	Resource string `json:"resource,omitempty"`
	// Template identifies the template the instance was built from, which
	// stays pinned to it (see [Start.Template]).
	Template string            `json:"template,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	// SealedOutputs are the outputs the Provisioner reported as secret
	// ([Observation.Secrets]: an access key's secret), each sealed by the
	// Tracker's [Sealer]; [Tracker.SecretOutputs] opens them.
	SealedOutputs map[string][]byte `json:"sealed_outputs,omitempty"`
	// Target is the account, role and region the instance's resources
	// live in, chosen at provision and used by every later operation
	// (and by the instance's bindings); zero means the broker's own.
	// (Not omitzero: Target.IsZero is true for a region-only Target.)
	Target credentials.Target `json:"target"`
	// Operation is the last operation; never nil in a stored record.
	Operation *Operation `json:"operation"`
	// Deleted marks a tombstone: the instance was deprovisioned. It is
	// kept until ExpiresAt to answer last_operation after an async
	// delete, then purged.
	Deleted   bool      `json:"deleted,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Version is the store's compare-and-swap counter: 0 for a record
	// that has never been stored.
	Version uint64 `json:"version"`
}

// SecretValue is what the store keeps of one secret parameter.
type SecretValue struct {
	// Digest is "hmac-sha256:" + base64 of HMAC-SHA256(salt, JSON value).
	Digest string `json:"digest"`
	// Salt is per record and random.
	Salt []byte `json:"salt"`
	// Sealed is the value sealed by a Sealer, or nil.
	Sealed []byte `json:"sealed,omitempty"`
}

// InFlight reports whether r's operation still needs the Tracker.
func (r *Record) InFlight() bool {
	return r.Operation != nil && r.Operation.State == InProgress
}

// Clone returns a deep copy of r, so a caller can change it and write it
// back with compare-and-swap without touching what others read.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Context = cloneMap(r.Context)
	c.Parameters = cloneMap(r.Parameters)
	if r.Secrets != nil {
		c.Secrets = make(map[string]SecretValue, len(r.Secrets))
		for k, v := range r.Secrets {
			v.Salt = append([]byte(nil), v.Salt...)
			v.Sealed = append([]byte(nil), v.Sealed...)
			c.Secrets[k] = v
		}
	}
	if r.Outputs != nil {
		c.Outputs = make(map[string]string, len(r.Outputs))
		for k, v := range r.Outputs {
			c.Outputs[k] = v
		}
	}
	if r.SealedOutputs != nil {
		c.SealedOutputs = make(map[string][]byte, len(r.SealedOutputs))
		for k, v := range r.SealedOutputs {
			c.SealedOutputs[k] = append([]byte(nil), v...)
		}
	}
	if r.Operation != nil {
		op := *r.Operation
		op.InstanceUsable = cloneBool(op.InstanceUsable)
		op.UpdateRepeatable = cloneBool(op.UpdateRepeatable)
		if op.Change != nil {
			ch := *op.Change
			ch.Parameters = cloneMap(ch.Parameters)
			op.Change = &ch
		}
		c.Operation = &op
	}
	return &c
}

// Errors of a [Store].
var (
	// ErrNotFound: no record with that ID.
	ErrNotFound = errors.New("provisioner: record not found")
	// ErrVersionConflict: a compare-and-swap found another version; read
	// again and decide again.
	ErrVersionConflict = errors.New("provisioner: record changed concurrently")
)

// Store keeps instance records. Every write is a compare-and-swap on
// Record.Version, so that two writers (goroutines, processes, replicas)
// cannot both start an operation on one instance: the guarantee does not
// rest on an in-process lock. Implementations are safe for concurrent use
// and return records the caller may modify (copies).
type Store interface {
	// Get returns the record of instanceID, or ErrNotFound.
	Get(ctx context.Context, instanceID string) (*Record, error)
	// Put writes rec if the stored version equals rec.Version (0: no
	// record may exist), and on success sets rec.Version to the new
	// version. Otherwise it returns ErrVersionConflict and writes nothing.
	Put(ctx context.Context, rec *Record) error
	// Delete removes the record if its stored version equals version,
	// else returns ErrVersionConflict; ErrNotFound if there is none.
	Delete(ctx context.Context, instanceID string, version uint64) error
	// InFlight returns every record whose operation is in progress.
	InFlight(ctx context.Context) ([]*Record, error)
	// Expired returns the IDs of tombstones whose ExpiresAt is before t.
	Expired(ctx context.Context, t time.Time) ([]string, error)
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}
