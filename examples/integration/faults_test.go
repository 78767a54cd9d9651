package integration

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// faultSeedEnv overrides the seed of TestFaultInjection, to reproduce a
// run from its logged seed.
const faultSeedEnv = "BROKERKIT_FAULT_SEED"

const (
	faultServiceID = "fault-svc-queue"
	faultPlanID    = "fault-plan-standard"
	faultPrefix    = "faults"
	faultService   = "queue" // the service's name, part of stack names
	// faultTemplate declares the one parameter the test changes on update.
	faultTemplate = `{"Parameters":{"Size":{"Type":"Number"}},"Resources":{"Queue":{"Type":"AWS::SQS::Queue"}}}`

	faultThrottleRate = 0.30
	faultInternalRate = 0.05
)

// faultInstance is what the test scripts for one instance and what it
// therefore expects.
type faultInstance struct {
	id, stack  string
	failCreate bool
	update     bool // updated in phase 2
	failUpdate bool
	deprov     bool // deprovisioned in phase 3
	// ops are the operation IDs the Tracker answered, by kind; attempts
	// the start calls each took, read when it ended.
	ops      map[provisioner.Kind]string
	attempts map[provisioner.Kind]int
}

func (in *faultInstance) createCause() string {
	return "Queue (AWS::SQS::Queue): API: sqs:CreateQueue Access to the resource is denied (" + in.id + ")"
}

func (in *faultInstance) updateCause() string {
	return "Queue (AWS::SQS::Queue): Resource handler returned message: \"Invalid value for MaximumMessageSize (" + in.id + ")\""
}

func (in *faultInstance) queueURL(v string) string { return "https://sqs.example/" + v + "/" + in.id }

// TestFaultInjection runs 200 operations — 120 provisions (20 scripted to
// roll back), 40 updates of provisioned instances (10 scripted to roll
// back) and 40 deprovisions — through the Tracker and
// cloudformation.Stacks against the scripted fake CloudFormation, with
// 30% of all CloudFormation calls answered Throttling ("Rate exceeded")
// and 5% answered 500 (half of those after the call took effect, as when
// the answer is lost). The test drives the Tracker through its Go API, as
// a controller would, not over HTTP.
//
// It proves that every operation reaches the terminal state its script
// implies — never "succeeded" for a failure, never stuck — with the
// scripted root cause as description and instance_usable true for the
// rolled-back updates; that each provisioned instance has exactly one
// stack (deleted ones DELETE_COMPLETE); and that operations whose start
// call exhausted the SDK's retries are started again by the Tracker.
//
// Faults are chosen by a math/rand/v2 PCG seeded with the logged seed and
// keyed by (action, stack, call number for that pair), so one seed gives
// each stack the same faults whatever the goroutine schedule; set
// BROKERKIT_FAULT_SEED to replay a seed.
func TestFaultInjection(t *testing.T) {
	seed := faultSeed(t)

	// The script: instance i fails its provision when i%6 == 5 (20 of 120).
	// Of the 100 that succeed, the first 40 are updated, every fourth of
	// those failing (10). Deprovisioned: 10 failed provisions, 10 updated,
	// 5 whose update failed, 15 never updated.
	var all []*faultInstance
	byStack := map[string]*faultInstance{}
	for i := range 120 {
		id := fmt.Sprintf("fault-%03d", i)
		in := &faultInstance{id: id, stack: cloudformation.StackName(faultPrefix, faultService, id),
			failCreate: i%6 == 5, ops: map[provisioner.Kind]string{}, attempts: map[provisioner.Kind]int{}}
		all = append(all, in)
		byStack[in.stack] = in
	}
	var ok, failed, updOK, updFailed, plain []*faultInstance
	for _, in := range all {
		if in.failCreate {
			failed = append(failed, in)
		} else {
			ok = append(ok, in)
		}
	}
	for i, in := range ok[:40] {
		in.update, in.failUpdate = true, i%4 == 3
		if in.failUpdate {
			updFailed = append(updFailed, in)
		} else {
			updOK = append(updOK, in)
		}
	}
	plain = ok[40:]
	for _, group := range [][]*faultInstance{failed[:10], updOK[:10], updFailed[:5], plain[:15]} {
		for _, in := range group {
			in.deprov = true
		}
	}
	updates, deprovs := 0, 0
	for _, in := range all {
		if in.update {
			updates++
		}
		if in.deprov {
			deprovs++
		}
	}
	if n := len(all) + updates + deprovs; n != 200 {
		t.Fatalf("the script has %d operations, want 200", n)
	}

	// Forced exhaustion, on top of the random faults: every SDK attempt of
	// the first CreateStack of one instance, and of the first UpdateStack
	// of another, fails, so that the Tracker must start them again.
	forced := map[string]int{
		"CreateStack|" + ok[0].stack:    3,
		"UpdateStack|" + updOK[0].stack: 3,
	}
	inj := &faultInjector{seed: seed, forced: forced, n: map[string]uint64{}}

	f, srv := provisionertest.NewServer(t, provisionertest.Options{
		Fault:       inj.fault,
		Script:      faultScript(seed, byStack),
		MaxAttempts: 3,
		MaxBackoff:  5 * time.Millisecond,
	})

	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: faultServiceID, Name: faultService, Description: "A queue.", PlanUpdateable: true,
		Plans: []catalog.Plan{{ID: faultPlanID, Name: "standard", Description: "A standard queue."}},
	}}})
	if err != nil {
		t.Fatal(err)
	}

	// The client as the cloudformation package means it to be used:
	// NewClient's retryer (NewRetryer: the SDK's standard one, with its
	// retry-token bucket, not retrying LimitExceededException) and a
	// shared rate limiter, but with a 5ms backoff instead of the SDK's 1s
	// base delay after throttling, so the test stays fast.
	limiter := rate.NewLimiter(5000, 100)
	client := cloudformation.NewClient(f.Config(srv.URL), limiter, func(o *cfn.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, 5*time.Millisecond)
	})
	quota := &types.LimitExceededException{Message: aws.String("Limit for stacks exceeded")}
	if client.Options().Retryer.IsErrorRetryable(quota) {
		t.Fatal("the client's retryer retries LimitExceededException: it is not NewRetryer's")
	}
	logs := &faultLogCounter{}
	log := slog.New(logs)
	stacks, err := cloudformation.New(cloudformation.Options{
		Client:      client,
		Catalog:     idx,
		Templates:   cloudformation.StaticTemplates{faultPlanID: {Body: faultTemplate, Parameters: map[string]cloudformation.ParameterSpec{"Size": {Type: "Number"}}}},
		StackPrefix: faultPrefix,
		BrokerID:    "fault-broker",
		Logger:      log,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := provisioner.New(provisioner.Options{
		Store:           store.NewMemory(),
		Provisioner:     stacks,
		Catalog:         idx,
		Logger:          log,
		PollInterval:    20 * time.Millisecond,
		MaxPollInterval: 150 * time.Millisecond,
		CallTimeout:     5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- tr.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run: %v", err)
		}
	}()

	// Phase 1: 120 provisions at once.
	faultDo(t, all, provisioner.KindProvision, func(in *faultInstance) (provisioner.Result, error) {
		return tr.Provision(ctx, provisioner.ProvisionRequest{InstanceID: in.id, ServiceID: faultServiceID, PlanID: faultPlanID,
			OrganizationGUID: "org", SpaceGUID: "space", Parameters: map[string]any{"Size": 1}})
	})
	faultWait(ctx, t, tr, all, provisioner.KindProvision)
	for _, in := range all {
		st := faultStatus(ctx, t, tr, in, provisioner.KindProvision)
		if st == nil {
			continue
		}
		op := st.Operation
		if in.failCreate {
			faultExpect(t, in, op, provisioner.Failed, in.createCause(), nil)
			continue
		}
		faultExpect(t, in, op, provisioner.Succeeded, "", nil)
		rec, err := tr.Instance(ctx, in.id)
		if err != nil {
			t.Errorf("%s: Instance after a successful provision: %v", in.id, err)
		} else if got, want := rec.Outputs["QueueURL"], in.queueURL("v1"); got != want {
			t.Errorf("%s: outputs[QueueURL] = %q, want %q", in.id, got, want)
		}
	}

	// Phase 2: 40 updates at once.
	upd := faultSelect(all, func(in *faultInstance) bool { return in.update })
	faultDo(t, upd, provisioner.KindUpdate, func(in *faultInstance) (provisioner.Result, error) {
		return tr.Update(ctx, provisioner.UpdateRequest{InstanceID: in.id, Change: provisioner.Change{Parameters: map[string]any{"Size": 2}}})
	})
	faultWait(ctx, t, tr, upd, provisioner.KindUpdate)
	for _, in := range upd {
		st := faultStatus(ctx, t, tr, in, provisioner.KindUpdate)
		if st == nil {
			continue
		}
		if in.failUpdate {
			faultExpect(t, in, st.Operation, provisioner.Failed, in.updateCause(), new(true))
		} else {
			faultExpect(t, in, st.Operation, provisioner.Succeeded, "", nil)
		}
		rec, err := tr.Instance(ctx, in.id)
		if err != nil {
			t.Errorf("%s: Instance after its update: %v", in.id, err)
			continue
		}
		wantSize, wantURL := "2", in.queueURL("v2")
		if in.failUpdate {
			wantSize, wantURL = "1", in.queueURL("v1")
		}
		if got := fmt.Sprint(rec.Parameters["Size"]); got != wantSize {
			t.Errorf("%s: recorded Size = %s, want %s", in.id, got, wantSize)
		}
		if got := rec.Outputs["QueueURL"]; got != wantURL {
			t.Errorf("%s: outputs[QueueURL] = %q, want %q", in.id, got, wantURL)
		}
	}

	// Phase 3: 40 deprovisions at once.
	dep := faultSelect(all, func(in *faultInstance) bool { return in.deprov })
	faultDo(t, dep, provisioner.KindDeprovision, func(in *faultInstance) (provisioner.Result, error) {
		return tr.Deprovision(ctx, in.id)
	})
	faultWait(ctx, t, tr, dep, provisioner.KindDeprovision)
	for _, in := range dep {
		if st := faultStatus(ctx, t, tr, in, provisioner.KindDeprovision); st != nil {
			faultExpect(t, in, st.Operation, provisioner.Succeeded, "", nil)
		}
		if _, err := tr.Instance(ctx, in.id); !errors.Is(err, provisioner.ErrNotFound) {
			t.Errorf("%s: Instance after deprovision: %v, want ErrNotFound", in.id, err)
		}
	}

	// The stacks: exactly one per instance, in the status its operations
	// leave it in, and the one the record names.
	perInstance := map[string][]provisionertest.StackState{}
	for _, s := range f.Stacks() {
		in := byStack[s.Name]
		if in == nil {
			t.Errorf("stack %s belongs to no instance", s.Name)
			continue
		}
		if got := s.Tags[cloudformation.TagInstanceID]; got != in.id {
			t.Errorf("stack %s: tag %s = %q, want %q", s.Name, cloudformation.TagInstanceID, got, in.id)
		}
		perInstance[in.id] = append(perInstance[in.id], s)
	}
	for _, in := range all {
		ss := perInstance[in.id]
		if len(ss) != 1 {
			t.Errorf("%s: %d stacks, want exactly 1", in.id, len(ss))
			continue
		}
		s := ss[0]
		want, wantSize := "CREATE_COMPLETE", "1"
		switch {
		case in.deprov:
			want = "DELETE_COMPLETE"
		case in.failCreate:
			want = "ROLLBACK_COMPLETE"
		case in.failUpdate:
			want = "UPDATE_ROLLBACK_COMPLETE"
		case in.update:
			want, wantSize = "UPDATE_COMPLETE", "2"
		}
		if s.Status != want {
			t.Errorf("%s: stack status %s, want %s", in.id, s.Status, want)
		}
		if !in.deprov && s.Parameters["Size"] != wantSize {
			t.Errorf("%s: stack parameter Size = %q, want %q", in.id, s.Parameters["Size"], wantSize)
		}
		if st, err := tr.LastOperation(ctx, in.id, ""); err != nil {
			t.Errorf("%s: LastOperation: %v", in.id, err)
		} else if rec, err := tr.Instance(ctx, in.id); err == nil && rec.Resource != s.ID {
			t.Errorf("%s: record's stack %s, want %s (%s)", in.id, rec.Resource, s.ID, st.Operation.Kind)
		}
	}

	// The retries: every operation whose start call the SDK gave up on
	// was started again by the Tracker, and ended as scripted (checked
	// above). The forced ones are among them.
	restarted := 0
	for _, in := range all {
		for _, a := range in.attempts {
			if a > 1 {
				restarted++
			}
		}
	}
	for _, c := range []struct {
		in   *faultInstance
		kind provisioner.Kind
	}{{ok[0], provisioner.KindProvision}, {updOK[0], provisioner.KindUpdate}} {
		if a := c.in.attempts[c.kind]; a < 2 {
			t.Errorf("%s: the %s whose every SDK attempt failed was started %d times, want at least 2", c.in.id, c.kind, a)
		}
	}

	calls := f.Calls()
	t.Logf("seed %d (%s=%d to replay): %d calls to CloudFormation (%v); injected %d Throttling, %d InternalFailure (%d after taking effect)",
		seed, faultSeedEnv, seed, f.CallsTotal(), calls, inj.throttled.Load(), inj.internal.Load(), inj.applied.Load())
	t.Logf("operations started again by the Tracker: %d; Tracker warnings: %d start retries (%d of them out of SDK retry tokens), %d observe retries; %d root causes read without events",
		restarted, logs.startRetries.Load(), logs.quota.Load(), logs.observeRetries.Load(), logs.eventsFailed.Load())
	if total := inj.throttled.Load() + inj.internal.Load(); total == 0 {
		t.Error("no fault was injected")
	}
}

// faultSeed returns the seed from BROKERKIT_FAULT_SEED, or a new one.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv(faultSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", faultSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (set %s=%d to replay)", seed, faultSeedEnv, seed)
	return seed
}

// faultRand returns a generator seeded by seed and key, so that draws
// keyed by the same call are the same in every run with that seed.
func faultRand(seed uint64, key ...string) *rand.Rand {
	h := fnv.New64a()
	for _, k := range key {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// faultInjector answers a share of calls with faults.
type faultInjector struct {
	seed   uint64
	forced map[string]int // "Action|stack name" → leading calls to fault

	mu sync.Mutex
	n  map[string]uint64 // calls per "Action|stack"

	throttled, internal, applied atomic.Int64
}

// faultStackName returns the stack name in a call's StackName, which is
// a name or a stack ID (arn:…:stack/NAME/UUID).
func faultStackName(s string) string {
	if rest, ok := strings.CutPrefix(s, "arn:"); ok {
		if _, after, ok := strings.Cut(rest, ":stack/"); ok {
			name, _, _ := strings.Cut(after, "/")
			return name
		}
	}
	return s
}

func (fi *faultInjector) fault(c provisionertest.Call) *provisionertest.Fault {
	key := c.Action + "|" + faultStackName(c.StackName)
	fi.mu.Lock()
	fi.n[key]++
	n := fi.n[key]
	fi.mu.Unlock()
	if n <= uint64(fi.forced[key]) {
		fi.internal.Add(1)
		return provisionertest.InternalFailure()
	}
	r := faultRand(fi.seed, key, strconv.FormatUint(n, 10))
	switch x := r.Float64(); {
	case x < faultThrottleRate:
		fi.throttled.Add(1)
		return provisionertest.Throttling()
	case x < faultThrottleRate+faultInternalRate:
		fi.internal.Add(1)
		f := provisionertest.InternalFailure()
		if r.IntN(2) == 0 {
			f.Applied = true
			fi.applied.Add(1)
		}
		return f
	}
	return nil
}

// faultScript scripts each stack operation from the instance's plan, with
// random delays of 10–200ms.
func faultScript(seed uint64, byStack map[string]*faultInstance) func(provisionertest.Op) provisionertest.Script {
	return func(op provisionertest.Op) provisionertest.Script {
		r := faultRand(seed, "script", op.Action, op.StackName, op.ClientRequestToken)
		delay := func() time.Duration { return time.Duration(10+r.IntN(191)) * time.Millisecond }
		in := byStack[op.StackName]
		sc := provisionertest.Script{Delay: delay()}
		if in == nil {
			return sc
		}
		switch op.Action {
		case "CreateStack":
			if in.failCreate {
				sc.Fail, sc.RollbackDelay = true, delay()
				sc.FailedResources = []provisionertest.ResourceFailure{
					{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "API: sqs:CreateQueue Access to the resource is denied (" + in.id + ")"},
					{LogicalID: "Topic", Type: "AWS::SNS::Topic"},
				}
			} else {
				sc.Outputs = map[string]string{"QueueURL": in.queueURL("v1")}
			}
		case "UpdateStack":
			if in.failUpdate {
				sc.Fail, sc.RollbackDelay, sc.CleanupDelay = true, delay(), delay()
				sc.FailedResources = []provisionertest.ResourceFailure{
					{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "Resource handler returned message: \"Invalid value for MaximumMessageSize (" + in.id + ")\""},
				}
			} else {
				sc.CleanupDelay = delay()
				sc.Outputs = map[string]string{"QueueURL": in.queueURL("v2")}
			}
		}
		return sc
	}
}

// faultDo calls do for every instance at once and records the operation
// each was answered with. Every call must start an operation: faults are
// retryable, so none may reach the caller as an error.
func faultDo(t *testing.T, ins []*faultInstance, kind provisioner.Kind, do func(*faultInstance) (provisioner.Result, error)) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, in := range ins {
		wg.Go(func() {
			res, err := do(in)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("%s: %s: %v", in.id, kind, err)
			case res.Outcome != provisioner.Started || res.Operation == nil || res.Operation.Kind != kind:
				t.Errorf("%s: %s answered %+v, want a started %s", in.id, kind, res, kind)
			default:
				in.ops[kind] = res.Operation.ID
			}
		})
	}
	wg.Wait()
}

// faultWait waits until the kind operation of every instance has ended,
// and fails the test naming those still in progress when ctx ends.
func faultWait(ctx context.Context, t *testing.T, tr *provisioner.Tracker, ins []*faultInstance, kind provisioner.Kind) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var stuck []string
		for _, in := range ins {
			if in.ops[kind] == "" {
				continue // its request failed, reported already
			}
			st, err := tr.LastOperation(ctx, in.id, in.ops[kind])
			if err != nil || st.Operation.ID != in.ops[kind] || st.Operation.State == provisioner.InProgress {
				stuck = append(stuck, fmt.Sprintf("%s (%v)", in.id, faultDescribe(st, err)))
			}
		}
		if len(stuck) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d %s operations did not end: %s", len(stuck), kind, strings.Join(stuck, ", "))
		case <-tick.C:
		}
	}
}

func faultDescribe(st provisioner.Status, err error) string {
	if err != nil {
		return err.Error()
	}
	op := st.Operation
	return fmt.Sprintf("%s %s %s, %d start attempts", op.Kind, op.State, op.Status, op.Attempts)
}

// faultStatus returns the status of in's operation of kind, or nil after
// reporting why it cannot.
func faultStatus(ctx context.Context, t *testing.T, tr *provisioner.Tracker, in *faultInstance, kind provisioner.Kind) *provisioner.Status {
	t.Helper()
	if in.ops[kind] == "" {
		return nil
	}
	st, err := tr.LastOperation(ctx, in.id, in.ops[kind])
	if err != nil {
		t.Errorf("%s: LastOperation: %v", in.id, err)
		return nil
	}
	if st.Operation.ID != in.ops[kind] {
		t.Errorf("%s: last operation %s (%s), want %s (%s)", in.id, st.Operation.ID, st.Operation.Kind, in.ops[kind], kind)
		return nil
	}
	return &st
}

// faultExpect compares an ended operation with what its script implies.
func faultExpect(t *testing.T, in *faultInstance, op *provisioner.Operation, state provisioner.State, description string, usable *bool) {
	t.Helper()
	in.attempts[op.Kind] = op.Attempts
	if op.State != state {
		t.Errorf("%s: %s %s (%s, %q), want %s", in.id, op.Kind, op.State, op.Status, op.Description, state)
		return
	}
	if state == provisioner.Failed && op.Description != description {
		t.Errorf("%s: %s failed with description %q, want the root cause %q", in.id, op.Kind, op.Description, description)
	}
	if usable != nil && (op.InstanceUsable == nil || *op.InstanceUsable != *usable) {
		t.Errorf("%s: %s instance_usable = %v, want %v", in.id, op.Kind, faultBool(op.InstanceUsable), *usable)
	}
	if op.FinishedAt.IsZero() || !op.Started {
		t.Errorf("%s: %s ended without Started (%v) or FinishedAt (%v)", in.id, op.Kind, op.Started, op.FinishedAt)
	}
}

func faultBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	return strconv.FormatBool(*b)
}

func faultSelect(ins []*faultInstance, keep func(*faultInstance) bool) []*faultInstance {
	var out []*faultInstance
	for _, in := range ins {
		if keep(in) {
			out = append(out, in)
		}
	}
	return out
}

// faultLogCounter is a slog.Handler that counts the records the test
// reports on: the Tracker's retries and the root causes read without
// events.
type faultLogCounter struct {
	startRetries, observeRetries, quota, eventsFailed atomic.Int64
}

func (*faultLogCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c *faultLogCounter) Handle(_ context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "starting an operation failed"):
		c.startRetries.Add(1)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" && strings.Contains(a.Value.String(), "quota") {
				c.quota.Add(1)
			}
			return true
		})
	case strings.HasPrefix(r.Message, "observing an operation failed"):
		c.observeRetries.Add(1)
	case strings.HasPrefix(r.Message, "reading stack events failed"):
		c.eventsFailed.Add(1)
	}
	return nil
}

func (c *faultLogCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *faultLogCounter) WithGroup(string) slog.Handler      { return c }
