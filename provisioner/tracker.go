package provisioner

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
)

// Errors the Tracker answers requests with, besides a [TerminalError]
// from the backend.
var (
	// ErrConflict: the instance exists, or is being provisioned, with
	// other attributes (OSB 409).
	ErrConflict = errors.New("provisioner: instance exists with different attributes")
	// ErrBusy: another operation on the instance is in progress (OSB 422
	// ConcurrencyError).
	ErrBusy = errors.New("provisioner: another operation on the instance is in progress")
	// ErrGone: the instance was deleted long enough ago that its last
	// operation is no longer reported (OSB 410 on last_operation).
	ErrGone = errors.New("provisioner: instance deleted")
	// ErrProvisioning: the instance is still being provisioned. Instance
	// returns it wrapped together with ErrNotFound, since a fetch of an
	// instance in provisioning is a 404, while a bind to it is a 422.
	ErrProvisioning = errors.New("provisioner: instance is being provisioned")
	// ErrNoSealer: the Provisioner reported secret outputs (or a record
	// holds sealed ones) and the Tracker has no Sealer to keep them.
	ErrNoSealer = errors.New("provisioner: secret outputs need a Sealer")
	errNotYet   = fmt.Errorf("%w: %w", ErrNotFound, ErrProvisioning)
)

// Options configure a [Tracker].
type Options struct {
	// Store keeps the records. Required. A Store belongs to one Tracker
	// (or to replicas of one): Run resumes every operation in progress it
	// holds, with this Tracker's Provisioner. A second Tracker (for
	// bindings, say) needs a Store of its own.
	Store Store
	// Provisioner does the work. Required.
	Provisioner Provisioner
	// Catalog names the plans and their secret parameters. Required.
	Catalog *catalog.Index
	// Sealer keeps secret parameter values across restarts; see [Sealer].
	Sealer Sealer
	Logger *slog.Logger
	Clock  Clock
	// PollInterval is the delay before the first poll of an operation
	// (default 5s); each later poll waits 1.5 times longer, up to
	// MaxPollInterval (default 1m), with ±Jitter (default 0.2) of random
	// spread so that operations started together do not poll together.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	Jitter          float64
	// OperationTimeout fails an operation still in progress after this
	// long (default 2h); a plan's maximum_polling_duration, when set, is
	// used instead, so the broker reports failure before the platform
	// gives up.
	OperationTimeout time.Duration
	// CallTimeout bounds one backend call (default 30s).
	CallTimeout time.Duration
	// Retention is how long last_operation reports a finished deprovision
	// as succeeded (default 72h); after that it answers [ErrGone] until
	// the tombstone is purged after TombstoneTTL (default 30 days).
	Retention    time.Duration
	TombstoneTTL time.Duration
	// BatchSize bounds how many due operations one poll round observes
	// together (default 10,000). With a [BatchObserver], a round also
	// takes the operations due within half a PollInterval, so that
	// jittered schedules still share one listing.
	BatchSize int
	// Owner names this Tracker in the leases of a Store that is a
	// [Leaser] (default: random). Replicas must have distinct owners.
	Owner string
	// LeaseDuration is how long a lease outlives the moment its holder's
	// next poll is due, and so how long after that the operations of a
	// replica that died wait for another one (default 2×MaxPollInterval).
	// A lease taken for a poll lasts until the next poll can be due (the
	// backoff's bound, jitter included) plus LeaseDuration, so a live
	// replica keeps its operations however far its backoff has grown.
	// Ignored without a [Leaser].
	LeaseDuration time.Duration
}

// Tracker runs instance operations: it writes each accepted operation to
// the Store before calling the Provisioner, polls operations in progress
// in the background, and answers last_operation from the Store.
//
// # Life cycle
//
// Provision, Update and Deprovision decide from the stored record (see
// the idempotency rules on each), write the new operation with
// compare-and-swap, then call the backend. A backend error that retrying
// may fix leaves the operation recorded but not started: Run starts it
// again, idempotently, with backoff. A terminal error undoes the write
// and is returned, so a 4xx leaves nothing behind. Run polls started
// operations (in batches where the backend is a [BatchObserver]) and
// records each one's end: outputs, root-cause failures, tombstones.
//
// # Crashes
//
// On start, Run resumes every operation in progress that it finds in the
// Store. Because the record precedes the backend call, and backend calls
// are idempotent per operation, a crash at any point leaves neither an
// instance without its record nor a duplicate resource.
//
// # Concurrency
//
// All methods are safe for concurrent use. Two Trackers may share a Store:
// the Store's compare-and-swap decides which request starts an operation.
type Tracker struct {
	opts Options
	log  *slog.Logger
	obs  BatchObserver // nil unless the provisioner batches

	mu       sync.Mutex
	schedule schedule
	queued   map[string]*entry // operation ID → its entry in schedule
	secrets  map[string]map[string]any
	wake     chan struct{}
	leases   *leases
}

// New returns a Tracker. It copies opts, then applies optFns.
func New(opts Options, optFns ...func(*Options)) (*Tracker, error) {
	for _, fn := range optFns {
		fn(&opts)
	}
	if opts.Store == nil || opts.Provisioner == nil || opts.Catalog == nil {
		return nil, errors.New("provisioner: New needs a Store, a Provisioner and a Catalog")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.PollInterval, 5*time.Second)
	def(&opts.MaxPollInterval, time.Minute)
	def(&opts.OperationTimeout, 2*time.Hour)
	def(&opts.CallTimeout, 30*time.Second)
	def(&opts.Retention, 72*time.Hour)
	def(&opts.TombstoneTTL, 30*24*time.Hour)
	if opts.Jitter <= 0 || opts.Jitter >= 1 {
		opts.Jitter = 0.2
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 10000
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	def(&opts.LeaseDuration, 2*opts.MaxPollInterval)
	if opts.Owner == "" {
		opts.Owner = randomOwner()
	}
	t := &Tracker{opts: opts, log: opts.Logger, queued: map[string]*entry{},
		secrets: map[string]map[string]any{}, wake: make(chan struct{}, 1)}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.obs, _ = opts.Provisioner.(BatchObserver)
	t.leases = newLeases(opts.Store, opts.Owner, opts.LeaseDuration)
	return t, nil
}

// Outcome says how a request to the Tracker ended.
type Outcome uint8

const (
	// Started: a new operation was recorded and started (or will be).
	Started Outcome = iota + 1
	// Joined: an identical operation was already in progress; the result
	// names it.
	Joined
	// Unchanged: the instance already is as asked (an identical provision
	// of an existing instance, an update with nothing to change).
	Unchanged
)

// Result is the Tracker's answer to a provision, update or deprovision.
type Result struct {
	Outcome   Outcome
	Operation *Operation
}

// ProvisionRequest asks for a new instance.
type ProvisionRequest struct {
	InstanceID       string
	ServiceID        string
	PlanID           string
	OrganizationGUID string
	SpaceGUID        string
	Parameters       map[string]any
	Context          map[string]any
	// Target is the account, role and region the instance's resources
	// go to (see [Record.Target]); the zero Target is the broker's own.
	// A repeated provision must name the same Target.
	Target credentials.Target
	// Derived names the Parameters the caller filled in itself from other
	// resources (a binding's instance outputs), not the user. They are
	// stored and sent like the others but not compared when a repeated
	// request is judged identical, since they may have changed since.
	Derived []string
}

// UpdateRequest asks to change an instance.
type UpdateRequest struct {
	InstanceID string
	Change
	// Context replaces the instance's context when not nil.
	Context map[string]any
}

// casAttempts bounds how often a request re-reads a record that changed
// under it before giving up with ErrBusy.
const casAttempts = 16

// Provision records and starts a provision. Against an existing record:
// an update or deprovision in progress → ErrBusy; the same attributes
// while the provision runs → Joined with its operation; the same
// attributes once provisioned → Unchanged; other attributes →
// ErrConflict; a failed provision or deprovision waiting for the
// platform's delete → ErrConflict. A tombstone counts as no record.
func (t *Tracker) Provision(ctx context.Context, req ProvisionRequest) (Result, error) {
	_, plan, ok := t.opts.Catalog.Plan(req.PlanID)
	if !ok {
		return Result{}, Terminal(ReasonInvalid, fmt.Errorf("unknown plan %q", req.PlanID))
	}
	plain, secrets, err := protect(req.Parameters, plan.SecretParameters(), t.opts.Sealer)
	if err != nil {
		return Result{}, err
	}
	for range casAttempts {
		rec, err := t.get(ctx, req.InstanceID)
		if err != nil {
			return Result{}, err
		}
		if rec != nil && !rec.Deleted {
			return t.existing(rec, req)
		}
		now := t.opts.Clock.Now()
		op := t.newOperation(KindProvision, now)
		next := &Record{InstanceID: req.InstanceID, ServiceID: req.ServiceID, PlanID: req.PlanID,
			OrganizationGUID: req.OrganizationGUID, SpaceGUID: req.SpaceGUID, Context: cloneMap(req.Context),
			Parameters: plain, Secrets: secrets, Target: req.Target, Operation: op}
		if rec != nil {
			next.Version = rec.Version // reuse the tombstone's ID
		}
		if err := t.opts.Store.Put(ctx, next); errors.Is(err, ErrVersionConflict) {
			continue
		} else if err != nil {
			return Result{}, err
		}
		t.keepSecrets(op.ID, req.Parameters, plan.SecretParameters())
		ctx := context.WithoutCancel(ctx) // recorded: finish the start even if the platform hangs up
		res, err := t.start(ctx, next)
		if err != nil {
			t.restore(ctx, next, rec)
		}
		return res, err
	}
	return Result{}, ErrBusy
}

func (t *Tracker) existing(rec *Record, req ProvisionRequest) (Result, error) {
	op := rec.Operation
	if op.Kind != KindProvision && op.State == InProgress {
		return Result{}, ErrBusy // an update or deprovision runs: 422 whatever the attributes
	}
	if !sameAttributes(rec, req) {
		return Result{}, ErrConflict
	}
	switch {
	case op.Kind == KindProvision && op.State == InProgress:
		return Result{Outcome: Joined, Operation: op}, nil
	case op.Kind == KindProvision && op.State == Failed:
		return Result{}, ErrConflict
	case op.Kind == KindDeprovision:
		return Result{}, ErrConflict // a failed deprovision: the platform deletes again
	}
	return Result{Outcome: Unchanged, Operation: op}, nil
}

// Update records and starts an update. A repeated identical update while
// it runs → Joined; any other operation in progress → ErrBusy; an
// instance that does not exist → ErrNotFound; one whose provision failed
// → a TerminalError (refused). A plan change from a plan that is not
// plan_updateable is refused with UpdateRepeatable false. A change of
// the context alone is stored and answered Unchanged.
func (t *Tracker) Update(ctx context.Context, req UpdateRequest) (Result, error) {
	for range casAttempts {
		rec, err := t.get(ctx, req.InstanceID)
		if err != nil {
			return Result{}, err
		}
		if rec == nil || rec.Deleted {
			return Result{}, ErrNotFound
		}
		op := rec.Operation
		if req.PlanID == rec.PlanID {
			req.PlanID = ""
		}
		if op.State == InProgress {
			if op.Kind == KindUpdate && op.Change != nil && t.sameChange(rec, *op.Change, req.Change) {
				return Result{Outcome: Joined, Operation: op}, nil
			}
			return Result{}, ErrBusy
		}
		if (op.Kind == KindProvision || op.Kind == KindDeprovision) && op.State == Failed {
			return Result{}, &refusal{msg: "The instance's last " + string(op.Kind) + " failed; it cannot be updated."}
		}
		svc, cur, ok := t.opts.Catalog.Plan(rec.PlanID)
		if req.PlanID != "" {
			if _, _, ok := t.opts.Catalog.Plan(req.PlanID); !ok {
				return Result{}, Terminal(ReasonInvalid, fmt.Errorf("unknown plan %q", req.PlanID))
			}
			if ok && !svc.IsPlanUpdateable(cur) {
				return Result{}, &refusal{msg: "The plan of this instance cannot be changed.", notRepeatable: true}
			}
		}
		target := rec.PlanID
		if req.PlanID != "" {
			target = req.PlanID
		}
		_, tplan, _ := t.opts.Catalog.Plan(target)
		if len(req.Parameters) > 0 && tplan != nil {
			raw, err := json.Marshal(req.Parameters)
			if err != nil {
				return Result{}, err
			}
			if err := t.opts.Catalog.ValidateParameters(target, catalog.InstanceUpdate, raw); err != nil {
				return Result{}, Terminal(ReasonInvalid, err)
			}
		}
		if v := req.MaintenanceVersion; v != "" && (tplan == nil || tplan.MaintenanceInfo == nil || tplan.MaintenanceInfo.Version != v) {
			return Result{}, &refusal{msg: "The maintenance_info.version does not match the catalog's.", code: "MaintenanceInfoConflict"}
		}
		next := rec.Clone()
		if req.Context != nil {
			next.Context = cloneMap(req.Context)
		}
		if req.PlanID == "" && len(req.Parameters) == 0 && req.MaintenanceVersion == "" {
			if err := t.opts.Store.Put(ctx, next); errors.Is(err, ErrVersionConflict) {
				continue
			} else if err != nil {
				return Result{}, err
			}
			return Result{Outcome: Unchanged, Operation: next.Operation}, nil
		}
		var secretNames []string
		if tplan != nil {
			secretNames = tplan.SecretParameters()
		}
		plain, secrets, err := protect(req.Parameters, secretNames, t.opts.Sealer)
		if err != nil {
			return Result{}, err
		}
		change := req.Change
		change.Parameters = plain
		newOp := t.newOperation(KindUpdate, t.opts.Clock.Now())
		newOp.Change = &change
		next.Operation = newOp
		for k, v := range secrets {
			if next.Secrets == nil {
				next.Secrets = map[string]SecretValue{}
			}
			next.Secrets[pendingPrefix+k] = v
		}
		if err := t.opts.Store.Put(ctx, next); errors.Is(err, ErrVersionConflict) {
			continue
		} else if err != nil {
			return Result{}, err
		}
		t.keepSecrets(newOp.ID, req.Parameters, secretNames)
		ctx := context.WithoutCancel(ctx)
		res, err := t.start(ctx, next)
		if err != nil {
			t.restore(ctx, next, rec)
		}
		return res, err
	}
	return Result{}, ErrBusy
}

// Deprovision records and starts a deprovision. A repeated deprovision
// while it runs → Joined; no instance, or a tombstone → ErrNotFound (OSB
// 410). During a provision or update, the deprovision is accepted and
// waits for that to settle before deleting.
func (t *Tracker) Deprovision(ctx context.Context, instanceID string) (Result, error) {
	for range casAttempts {
		rec, err := t.get(ctx, instanceID)
		if err != nil {
			return Result{}, err
		}
		if rec == nil || rec.Deleted {
			return Result{}, ErrNotFound
		}
		prev := rec.Operation
		if prev.Kind == KindDeprovision && prev.State == InProgress {
			return Result{Outcome: Joined, Operation: prev}, nil
		}
		next := rec.Clone()
		op := t.newOperation(KindDeprovision, t.opts.Clock.Now())
		if prev.State == InProgress {
			op.After, op.AfterStarted = prev.Kind, prev.Started
			op.LastAttempt = prev.LastAttempt
		}
		next.Operation = op
		if err := t.opts.Store.Put(ctx, next); errors.Is(err, ErrVersionConflict) {
			continue
		} else if err != nil {
			return Result{}, err
		}
		if op.After != "" {
			t.enqueue(next.InstanceID, op.ID, t.opts.Clock.Now(), 0)
			return Result{Outcome: Started, Operation: op}, nil
		}
		ctx := context.WithoutCancel(ctx)
		res, err := t.start(ctx, next)
		if err != nil {
			t.restore(ctx, next, rec)
		}
		return res, err
	}
	return Result{}, ErrBusy
}

// Status is what last_operation reports.
type Status struct {
	Operation *Operation
	// RetryAfter is when the Tracker will look again, for an operation in
	// progress.
	RetryAfter time.Duration
}

// LastOperation reports the instance's latest operation; opID is a hint
// (an unknown or empty one means the latest). No record → ErrNotFound; a
// tombstone older than Retention → ErrGone.
func (t *Tracker) LastOperation(ctx context.Context, instanceID, opID string) (Status, error) {
	rec, err := t.get(ctx, instanceID)
	if err != nil {
		return Status{}, err
	}
	if rec == nil {
		return Status{}, ErrNotFound
	}
	op := rec.Operation
	now := t.opts.Clock.Now()
	if rec.Deleted && now.Sub(op.FinishedAt) > t.opts.Retention {
		return Status{}, ErrGone
	}
	st := Status{Operation: op}
	if op.State == InProgress {
		st.RetryAfter = time.Second
		t.mu.Lock()
		if e := t.queued[op.ID]; e != nil && e.due.After(now) && !t.leasedElsewhere(op.ID, now) {
			st.RetryAfter = e.due.Sub(now)
		}
		t.mu.Unlock()
	}
	return st, nil
}

// Instance returns the record of a provisioned instance: ErrNotFound
// while it does not exist, was deleted or its provision failed; an error
// matching both ErrNotFound and ErrProvisioning while it is being
// provisioned; ErrBusy while it is being updated or deleted.
func (t *Tracker) Instance(ctx context.Context, instanceID string) (*Record, error) {
	rec, err := t.get(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Deleted || rec.Operation.Kind == KindProvision && rec.Operation.State == Failed {
		return nil, ErrNotFound
	}
	if rec.Operation.Kind == KindProvision && rec.Operation.State == InProgress {
		return nil, errNotYet
	}
	if rec.Operation.State == InProgress {
		return nil, ErrBusy
	}
	return rec, nil
}

func (t *Tracker) get(ctx context.Context, id string) (*Record, error) {
	rec, err := t.opts.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

func (t *Tracker) newOperation(k Kind, now time.Time) *Operation {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return &Operation{ID: string(k[:1]) + "-" + hex.EncodeToString(b), Kind: k, State: InProgress, CreatedAt: now, UpdatedAt: now}
}

// keepSecrets holds the secret values of op in memory until it starts.
func (t *Tracker) keepSecrets(opID string, params map[string]any, names []string) {
	var kept map[string]any
	for _, n := range names {
		if v, ok := params[n]; ok {
			if kept == nil {
				kept = map[string]any{}
			}
			kept[n] = v
		}
	}
	if kept != nil {
		t.mu.Lock()
		t.secrets[opID] = kept
		t.mu.Unlock()
	}
}

// secretsFor returns the secret values rec's operation needs to start:
// from memory, else unsealed from the record (a provision needs the
// instance's secrets, an update only its pending ones).
func (t *Tracker) secretsFor(rec *Record) (map[string]any, error) {
	t.mu.Lock()
	kept, ok := t.secrets[rec.Operation.ID]
	t.mu.Unlock()
	if ok {
		return kept, nil
	}
	needed := map[string]SecretValue{}
	for k, v := range rec.Secrets {
		name, pending := strings.CutPrefix(k, pendingPrefix)
		switch rec.Operation.Kind {
		case KindProvision:
			needed[k] = v
		case KindUpdate:
			if pending {
				needed[name] = v
			}
		}
	}
	return unseal(needed, t.opts.Sealer)
}

const pendingPrefix = "pending:"

// instance builds what the Provisioner sees of rec, with secrets.
func instanceOf(rec *Record, secrets map[string]any) *Instance {
	params := cloneMap(rec.Parameters)
	for k, v := range secrets {
		if params == nil {
			params = map[string]any{}
		}
		params[k] = v
	}
	return &Instance{ID: rec.InstanceID, ServiceID: rec.ServiceID, PlanID: rec.PlanID,
		OrganizationGUID: rec.OrganizationGUID, SpaceGUID: rec.SpaceGUID, Parameters: params,
		Context: cloneMap(rec.Context), Resource: rec.Resource, Outputs: rec.Outputs, Target: rec.Target}
}

// start calls the backend for rec's recorded, not yet started operation.
// Success marks it started; a retryable failure leaves it for Run; a
// terminal one is returned (the caller undoes the record).
func (t *Tracker) start(ctx context.Context, rec *Record) (Result, error) {
	op := rec.Operation
	t.claimNew(ctx, rec)
	err := t.call(ctx, rec)
	if err == nil {
		return Result{Outcome: Started, Operation: op}, nil
	}
	if !IsRetryable(err) {
		return Result{}, err
	}
	t.log.Warn("starting an operation failed; will retry", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
	t.enqueue(rec.InstanceID, op.ID, t.opts.Clock.Now().Add(t.backoff(1)), 0)
	return Result{Outcome: Started, Operation: op}, nil
}

// call makes rec's start call and records that it started. It returns
// the backend's error, if any.
func (t *Tracker) call(ctx context.Context, rec *Record) error {
	op := rec.Operation
	secrets, err := t.secretsFor(rec)
	if err != nil {
		return Terminal(ReasonRefused, err)
	}
	inst := instanceOf(rec, secrets)
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	now := t.opts.Clock.Now()
	var st Start
	switch op.Kind {
	case KindProvision:
		st, err = t.opts.Provisioner.Create(cctx, op, inst)
	case KindUpdate:
		ch := *op.Change
		ch.Parameters = cloneMap(ch.Parameters)
		for k, v := range secrets {
			if ch.Parameters == nil {
				ch.Parameters = map[string]any{}
			}
			ch.Parameters[k] = v
		}
		st, err = t.opts.Provisioner.Update(cctx, op, inst, ch)
	case KindDeprovision:
		st, err = t.opts.Provisioner.Delete(cctx, op, inst)
	}
	if err != nil {
		if ctx.Err() == nil && !IsRetryable(err) && (cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
			err = &callTimeout{err}
		}
		t.mark(ctx, rec.InstanceID, op.ID, func(o *Operation, _ *Record) { o.LastAttempt, o.Attempts = now, o.Attempts+1 })
		return err
	}
	t.forgetSecrets(op.ID)
	err = t.mark(ctx, rec.InstanceID, op.ID, func(o *Operation, r *Record) {
		o.Started, o.LastAttempt, o.Attempts = true, now, o.Attempts+1
		if st.Resource != "" {
			r.Resource = st.Resource
		}
		if st.Template != "" {
			if o.Kind == KindProvision {
				r.Template = st.Template
			} else {
				o.Template = st.Template
			}
		}
		if st.Done {
			t.finish(r, Observation{State: Succeeded, Outputs: r.Outputs}, nil, now)
			return
		}
		o.NextPoll = now.Add(t.backoff(0))
	})
	switch {
	case errors.Is(err, errReplaced):
		t.adopt(ctx, rec.InstanceID, st.Resource)
		return nil
	case err != nil:
		// The backend started; only the bookkeeping failed. Run finds the
		// operation unstarted and starts it again, idempotently.
		return err
	case !st.Done:
		t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(0)), 0)
	}
	return nil
}

// callTimeout marks a backend call cut off by CallTimeout: the backend may
// have acted, so the operation must be retried, never undone or failed.
type callTimeout struct{ err error }

func (e *callTimeout) Error() string        { return e.err.Error() }
func (e *callTimeout) Unwrap() error        { return e.err }
func (e *callTimeout) RetryableError() bool { return true }

func (t *Tracker) forgetSecrets(opID string) {
	t.mu.Lock()
	delete(t.secrets, opID)
	t.mu.Unlock()
}

// errReplaced: the record's operation is no longer the one being marked.
var errReplaced = errors.New("provisioner: operation replaced")

// mark applies fn to the stored record if its operation is still opID,
// with compare-and-swap, re-reading on conflicts. It returns errReplaced
// if another operation replaced it.
func (t *Tracker) mark(ctx context.Context, instanceID, opID string, fn func(*Operation, *Record)) error {
	for range casAttempts {
		rec, err := t.get(ctx, instanceID)
		if err != nil {
			return err
		}
		if rec == nil || rec.Operation.ID != opID {
			return errReplaced
		}
		next := rec.Clone()
		fn(next.Operation, next)
		next.Operation.UpdatedAt = t.opts.Clock.Now()
		if err := t.opts.Store.Put(ctx, next); errors.Is(err, ErrVersionConflict) {
			continue
		} else if err != nil {
			return err
		}
		return nil
	}
	return ErrBusy
}

// adopt records, for a deprovision that replaced a provision or update
// while its start call was in flight, that the call succeeded and what
// resource it created, so the delete finds it.
func (t *Tracker) adopt(ctx context.Context, instanceID, resource string) {
	for range casAttempts {
		rec, err := t.get(ctx, instanceID)
		if err != nil || rec == nil || rec.Operation.After == "" {
			return
		}
		next := rec.Clone()
		next.Operation.AfterStarted = true
		if resource != "" {
			next.Resource = resource
		}
		if err := t.opts.Store.Put(ctx, next); !errors.Is(err, ErrVersionConflict) {
			return
		}
	}
}

// restore puts back what a request replaced (prev; nil if there was no
// record) when its start failed terminally: the platform got a 4xx, which
// must change nothing.
func (t *Tracker) restore(ctx context.Context, failed, prev *Record) {
	t.forgetSecrets(failed.Operation.ID)
	for range casAttempts {
		rec, err := t.get(ctx, failed.InstanceID)
		if err != nil || rec == nil || rec.Operation.ID != failed.Operation.ID {
			return
		}
		if prev == nil {
			err = t.opts.Store.Delete(ctx, rec.InstanceID, rec.Version)
		} else {
			old := prev.Clone()
			old.Version = rec.Version
			err = t.opts.Store.Put(ctx, old)
		}
		if !errors.Is(err, ErrVersionConflict) {
			return
		}
	}
}

// finish ends r's operation with obs, applying what a success means;
// sealed are obs.Secrets sealed (see sealOutputs).
func (t *Tracker) finish(r *Record, obs Observation, sealed map[string][]byte, now time.Time) {
	op := r.Operation
	op.State, op.Status, op.FinishedAt, op.UpdatedAt, op.NextPoll = obs.State, obs.Status, now, now, time.Time{}
	op.Description = obs.Description
	if obs.State == Failed && op.Kind != KindProvision {
		op.InstanceUsable = obs.InstanceUsable
		if op.Kind == KindUpdate {
			op.UpdateRepeatable = obs.UpdateRepeatable
		}
	}
	pending := map[string]SecretValue{}
	for k, v := range r.Secrets {
		if name, ok := strings.CutPrefix(k, pendingPrefix); ok {
			pending[name] = v
			delete(r.Secrets, k)
		}
	}
	if obs.State != Succeeded {
		return
	}
	switch op.Kind {
	case KindProvision:
		r.Outputs, r.SealedOutputs = obs.Outputs, sealed
	case KindUpdate:
		if obs.Outputs != nil {
			r.Outputs = obs.Outputs
		}
		if sealed != nil {
			r.SealedOutputs = sealed
		}
		if op.Template != "" {
			r.Template = op.Template
		}
		if ch := op.Change; ch != nil {
			if ch.PlanID != "" {
				r.PlanID = ch.PlanID
			}
			for k, v := range ch.Parameters {
				if r.Parameters == nil {
					r.Parameters = map[string]any{}
				}
				r.Parameters[k] = v
			}
			for k, v := range pending {
				if r.Secrets == nil {
					r.Secrets = map[string]SecretValue{}
				}
				r.Secrets[k] = v
			}
		}
	case KindDeprovision:
		r.Deleted, r.ExpiresAt = true, now.Add(t.opts.TombstoneTTL)
		r.Outputs, r.Secrets, r.SealedOutputs = nil, nil, nil
	}
}

// sealOutputs seals each secret output with the Sealer.
func (t *Tracker) sealOutputs(secrets map[string]string) (map[string][]byte, error) {
	if t.opts.Sealer == nil {
		return nil, ErrNoSealer
	}
	sealed := make(map[string][]byte, len(secrets))
	for k, v := range secrets {
		b, err := t.opts.Sealer.Seal([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("provisioner: sealing secret output %q: %w", k, err)
		}
		sealed[k] = b
	}
	return sealed, nil
}

// Catalog returns the catalog the Tracker was configured with.
func (t *Tracker) Catalog() *catalog.Index { return t.opts.Catalog }

// SecretOutputs opens rec's sealed outputs (see [Observation.Secrets])
// with the Tracker's Sealer: a new map, nil when there are none. Its
// errors name the output, never a value.
func (t *Tracker) SecretOutputs(rec *Record) (map[string]string, error) {
	if len(rec.SealedOutputs) == 0 {
		return nil, nil
	}
	if t.opts.Sealer == nil {
		return nil, ErrNoSealer
	}
	out := make(map[string]string, len(rec.SealedOutputs))
	for k, b := range rec.SealedOutputs {
		v, err := t.opts.Sealer.Open(b)
		if err != nil {
			return nil, fmt.Errorf("provisioner: opening secret output %q: %w", k, err)
		}
		out[k] = string(v)
	}
	return out, nil
}

// backoff is the jittered delay before poll number n (0 = the first).
func (t *Tracker) backoff(n int) time.Duration {
	return time.Duration(t.interval(n) * (1 + t.opts.Jitter*(2*mrand.Float64()-1)))
}

// interval is the delay before poll number n without jitter: PollInterval
// growing 1.5 times a poll, up to MaxPollInterval.
func (t *Tracker) interval(n int) float64 {
	return min(float64(t.opts.PollInterval)*math.Pow(1.5, float64(n)), float64(t.opts.MaxPollInterval))
}

// --- the background loop ---

// Run resumes every operation in progress in the Store, then polls due
// operations until ctx ends. It returns ctx's error, or a Store error at
// start. Run once per Tracker.
func (t *Tracker) Run(ctx context.Context) error {
	recs, err := t.opts.Store.InFlight(ctx)
	if err != nil {
		return fmt.Errorf("provisioner: resuming operations: %w", err)
	}
	t.resume(recs)
	if len(recs) > 0 {
		t.log.Info("resumed operations in progress", "count", len(recs))
	}
	t.purge(ctx)
	purgeTick := time.NewTicker(time.Hour)
	defer purgeTick.Stop()
	rescanTick, stopRescan := t.rescanEvery()
	defer stopRescan()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, wait := t.due()
		if len(due) > 0 {
			t.round(ctx, due)
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.wake:
		case <-timer.C:
		case <-purgeTick.C:
			t.purge(ctx)
		case <-rescanTick:
			t.rescan(ctx)
		}
	}
}

// Poll runs one round: every operation due now. For tests and for
// callers that drive the Tracker themselves instead of Run.
func (t *Tracker) Poll(ctx context.Context) int {
	due, _ := t.due()
	t.round(ctx, due)
	return len(due)
}

// Resume queues every operation in progress in the Store, as Run does on
// start.
func (t *Tracker) Resume(ctx context.Context) error {
	recs, err := t.opts.Store.InFlight(ctx)
	if err != nil {
		return err
	}
	t.resume(recs)
	return nil
}

// resume schedules the operations of recs, except those already scheduled
// by a request this process served while the store was being read.
func (t *Tracker) resume(recs []*Record) {
	for _, r := range recs {
		t.mu.Lock()
		_, queued := t.queued[r.Operation.ID]
		t.mu.Unlock()
		if !queued {
			t.enqueue(r.InstanceID, r.Operation.ID, t.resumeAt(r.Operation), 0)
		}
	}
}

// resumeAt is when to look again at an operation found in the store. One
// whose start call may still be in flight (in another process, or in a
// request being served now: no call has returned yet) waits until such a
// call would have timed out, so it is not started twice at once.
func (t *Tracker) resumeAt(op *Operation) time.Time {
	now := t.opts.Clock.Now()
	if !op.Started && op.Attempts == 0 && op.After == "" {
		if at := op.CreatedAt.Add(t.opts.CallTimeout); at.After(now) {
			return at
		}
	}
	if op.Started && op.NextPoll.After(now) {
		return op.NextPoll
	}
	return now
}

func (t *Tracker) purge(ctx context.Context) {
	ids, err := t.opts.Store.Expired(ctx, t.opts.Clock.Now())
	if err != nil {
		t.log.Warn("listing expired tombstones", "error", err)
		return
	}
	for _, id := range ids {
		if rec, err := t.get(ctx, id); err == nil && rec != nil && rec.Deleted {
			_ = t.opts.Store.Delete(ctx, id, rec.Version)
		}
	}
}

// round handles the due operations: starts that must be retried, waiting
// deprovisions, and observations, batched where the backend allows.
func (t *Tracker) round(ctx context.Context, due []*entry) {
	var observe []ObserveRequest
	var recs []*Record
	var polls []int
	for _, e := range due {
		rec, err := t.get(ctx, e.instanceID)
		if err != nil {
			t.log.Warn("reading a record", "instance_id", e.instanceID, "error", err)
			t.enqueue(e.instanceID, e.opID, t.opts.Clock.Now().Add(t.backoff(e.polls)), e.polls)
			continue
		}
		if rec == nil || rec.Operation.ID != e.opID || rec.Operation.State != InProgress {
			continue
		}
		if !t.claim(ctx, rec, e.polls) {
			continue
		}
		op := rec.Operation
		if (op.After != "" || !op.Started) && t.opts.Clock.Now().Sub(op.CreatedAt) > t.timeout(rec) {
			t.apply(ctx, rec, Observation{State: InProgress}, nil, e.polls)
			continue
		}
		switch {
		case op.After != "":
			t.waitingDelete(ctx, rec, e.polls)
		case !op.Started:
			t.retryStart(ctx, rec)
		default:
			observe = append(observe, ObserveRequest{Instance: instanceOf(rec, nil), Operation: op})
			recs = append(recs, rec)
			polls = append(polls, e.polls)
		}
	}
	if len(observe) == 0 {
		return
	}
	obs, errs := t.observe(ctx, observe)
	for i, rec := range recs {
		var err error
		if errs != nil {
			err = errs[i]
		}
		t.apply(ctx, rec, obs[i], err, polls[i]+1)
	}
}

func (t *Tracker) observe(ctx context.Context, reqs []ObserveRequest) ([]Observation, []error) {
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout*time.Duration(1+len(reqs)/100))
	defer cancel()
	if t.obs != nil && len(reqs) > 1 {
		return t.obs.ObserveBatch(cctx, reqs)
	}
	obs := make([]Observation, len(reqs))
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		obs[i], errs[i] = t.opts.Provisioner.Observe(cctx, r)
	}
	return obs, errs
}

// apply records observation number polls of rec's operation.
func (t *Tracker) apply(ctx context.Context, rec *Record, obs Observation, err error, polls int) {
	op := rec.Operation
	now := t.opts.Clock.Now()
	if err != nil {
		t.log.Warn("observing an operation failed; will retry", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
		obs = Observation{State: InProgress}
	}
	if obs.State == InProgress && now.Sub(op.CreatedAt) > t.timeout(rec) {
		obs = Observation{State: Failed, Status: obs.Status,
			Description: fmt.Sprintf("The %s did not finish within %s.", op.Kind, t.timeout(rec).Round(time.Second))}
		if op.Kind != KindProvision {
			obs.InstanceUsable = nil
		}
	}
	if obs.State == InProgress {
		// Polls in progress are not written back: only ends are, so a
		// poll round costs no store writes.
		t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(polls)), polls)
		return
	}
	var sealed map[string][]byte
	if obs.State == Succeeded && len(obs.Secrets) > 0 {
		if sealed, err = t.sealOutputs(obs.Secrets); err != nil {
			t.log.Error("sealing the secret outputs of an operation failed", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
			obs = Observation{State: Failed, Status: obs.Status, Description: "The broker could not store the secret outputs of the " + string(op.Kind) + "."}
		}
	}
	err = t.mark(ctx, rec.InstanceID, op.ID, func(o *Operation, r *Record) {
		t.finish(r, obs, sealed, now)
	})
	if errors.Is(err, errReplaced) {
		return // a deprovision took over; it is scheduled on its own
	}
	if err != nil {
		t.log.Warn("recording the end of an operation failed; will retry", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
		t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(polls)), polls)
		return
	}
	t.release(ctx, rec.InstanceID, op.ID)
	t.log.Info("operation finished", "instance_id", rec.InstanceID, "operation", op.ID, "kind", op.Kind, "state", obs.State, "status", obs.Status)
}

func (t *Tracker) timeout(rec *Record) time.Duration {
	if _, p, ok := t.opts.Catalog.Plan(rec.PlanID); ok && p.MaximumPollingDuration > 0 {
		return time.Duration(p.MaximumPollingDuration) * time.Second
	}
	return t.opts.OperationTimeout
}

func (t *Tracker) retryStart(ctx context.Context, rec *Record) {
	op := rec.Operation
	err := t.call(ctx, rec)
	switch {
	case err == nil:
	case IsRetryable(err):
		t.log.Warn("starting an operation failed; will retry", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
		t.enqueue(rec.InstanceID, op.ID, t.opts.Clock.Now().Add(t.backoff(op.Attempts+1)), 0)
	default:
		// Nobody waits for an answer now: the operation fails, and
		// last_operation says why.
		now := t.opts.Clock.Now()
		_ = t.mark(ctx, rec.InstanceID, op.ID, func(o *Operation, r *Record) {
			t.finish(r, Observation{State: Failed, Description: describe(err)}, nil, now)
		})
	}
}

// waitingDelete starts a deprovision that waits for the operation before
// it, once that has settled.
func (t *Tracker) waitingDelete(ctx context.Context, rec *Record, polls int) {
	op := rec.Operation
	now := t.opts.Clock.Now()
	settled := false
	if op.AfterStarted {
		obs, err := t.opts.Provisioner.Observe(ctx, ObserveRequest{Instance: instanceOf(rec, nil),
			Operation: &Operation{ID: op.ID, Kind: op.After, CreatedAt: op.CreatedAt}})
		settled = err == nil && obs.State != InProgress
	} else {
		// The start may still be in flight somewhere: only after a call
		// could have timed out is it safe to delete what exists.
		settled = now.Sub(op.LastAttempt) > t.opts.CallTimeout && now.Sub(op.CreatedAt) > t.opts.CallTimeout
	}
	if !settled {
		t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(polls+1)), polls+1)
		return
	}
	err := t.mark(ctx, rec.InstanceID, op.ID, func(o *Operation, _ *Record) { o.After = "" })
	if err != nil {
		t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(1)), polls)
		return
	}
	fresh, err := t.get(ctx, rec.InstanceID)
	if err != nil || fresh == nil || fresh.Operation.ID != op.ID {
		return
	}
	t.retryStart(ctx, fresh)
}

func describe(err error) string {
	if errors.Is(err, errSecretsLost) {
		return "The " + errSecretsLost.Error()
	}
	var te *TerminalError
	if errors.As(err, &te) {
		return te.Err.Error()
	}
	return "The backend refused the operation."
}

// --- the schedule ---

type entry struct {
	instanceID, opID string
	due              time.Time
	polls            int
	index            int
}

type schedule []*entry

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].due.Before(s[j].due) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].index, s[j].index = i, j
}
func (s *schedule) Push(x any) { e := x.(*entry); e.index = len(*s); *s = append(*s, e) }
func (s *schedule) Pop() any {
	old := *s
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	e.index = -1
	return e
}

// enqueue schedules (or reschedules) an operation; polls counts the
// observations made so far, for the backoff. Entries are keyed by
// operation, so that rescheduling an operation that another one replaced
// never hides the new one: round drops the stale entry when it comes due.
func (t *Tracker) enqueue(instanceID, opID string, due time.Time, polls int) {
	t.mu.Lock()
	if e := t.queued[opID]; e != nil {
		e.due, e.polls = due, polls
		heap.Fix(&t.schedule, e.index)
	} else {
		e := &entry{instanceID: instanceID, opID: opID, due: due, polls: polls}
		heap.Push(&t.schedule, e)
		t.queued[opID] = e
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// due pops up to BatchSize entries due now, or tells how long to wait.
// When the backend batches, entries due soon join a round that has one
// due now.
func (t *Tracker) due() ([]*entry, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Clock.Now()
	horizon := now
	if t.obs != nil && len(t.schedule) > 0 && !t.schedule[0].due.After(now) {
		horizon = now.Add(t.opts.PollInterval / 2)
	}
	var out []*entry
	for len(t.schedule) > 0 && len(out) < t.opts.BatchSize {
		e := t.schedule[0]
		if e.due.After(horizon) {
			if len(out) == 0 {
				return nil, e.due.Sub(now)
			}
			break
		}
		heap.Pop(&t.schedule)
		delete(t.queued, e.opID)
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, time.Hour
	}
	return out, 0
}

// InFlight returns how many operations the Tracker has scheduled.
func (t *Tracker) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.schedule)
}

// --- attribute comparison ---

// sameAttributes compares what the OSB API says makes two provisions the
// same: service, plan, organization, space and parameters (secret ones by
// digest); the context is ignored.
func sameAttributes(rec *Record, req ProvisionRequest) bool {
	if rec.ServiceID != req.ServiceID || rec.PlanID != req.PlanID || rec.Target != req.Target ||
		rec.OrganizationGUID != req.OrganizationGUID || rec.SpaceGUID != req.SpaceGUID {
		return false
	}
	plain := map[string]any{}
	stored := rec.Parameters
	if len(req.Derived) > 0 {
		stored = cloneMap(rec.Parameters)
		for _, k := range req.Derived {
			delete(stored, k)
		}
	}
	for k, v := range req.Parameters {
		if slices.Contains(req.Derived, k) {
			continue
		}
		if sv, secret := rec.Secrets[k]; secret {
			if !matchesSecret(sv, v) {
				return false
			}
			continue
		}
		plain[k] = v
	}
	for k := range rec.Secrets {
		if _, ok := req.Parameters[k]; !ok && !strings.HasPrefix(k, pendingPrefix) {
			return false
		}
	}
	return jsonEqual(plain, stored)
}

// sameChange reports whether req repeats the stored change ch of rec's
// update in progress: secret values are compared by their digests.
func (t *Tracker) sameChange(rec *Record, ch, req Change) bool {
	target := rec.PlanID
	if ch.PlanID != "" {
		target = ch.PlanID
	}
	var names []string
	if _, p, ok := t.opts.Catalog.Plan(target); ok {
		names = p.SecretParameters()
	}
	plain := cloneMap(req.Parameters)
	for _, n := range names {
		v, ok := plain[n]
		sv, stored := rec.Secrets[pendingPrefix+n]
		if ok != stored || ok && !matchesSecret(sv, v) {
			return false
		}
		delete(plain, n)
	}
	req.Parameters = plain
	return reflect.DeepEqual(normalize(ch), normalize(req))
}

func normalize(c Change) Change {
	if len(c.Parameters) == 0 {
		c.Parameters = nil
	} else {
		var m map[string]any
		b, _ := json.Marshal(c.Parameters)
		_ = unmarshalNumber(b, &m)
		c.Parameters = m
	}
	return c
}

// jsonEqual compares two parameter maps as JSON values, so that 5,
// 5.0 and json.Number("5") are equal and nil equals {}.
func jsonEqual(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	var x, y any
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if json.Unmarshal(ab, &x) != nil || json.Unmarshal(bb, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func unmarshalNumber(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// refusal is a request the Tracker refuses from the record's state.
type refusal struct {
	msg           string
	code          string
	notRepeatable bool
}

func (r *refusal) Error() string        { return r.msg }
func (r *refusal) RetryableError() bool { return false }

// RefusalDetails exposes a refusal's OSB details to the broker adapter:
// an error code ("" or "MaintenanceInfoConflict") and whether repeating
// the update can succeed.
func RefusalDetails(err error) (description, code string, repeatable, ok bool) {
	var r *refusal
	if !errors.As(err, &r) {
		return "", "", false, false
	}
	return r.msg, r.code, !r.notRepeatable, true
}
