package cloudformation_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// clock is a fake clock for the scripted endpoint and the operations.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fakeEnv struct {
	clock  *clock
	cf     *provisionertest.CloudFormation
	stacks *cloudformation.Stacks
}

// newFake returns Stacks over the scripted endpoint, whose SDK client is
// the fake's own configuration (fast retries) unless client is set.
func newFake(t *testing.T, fo provisionertest.Options, optFns ...func(*cloudformation.Options)) *fakeEnv {
	t.Helper()
	c := newClock()
	fo.Clock = c.Now
	f, srv := provisionertest.NewServer(t, fo)
	s, err := cloudformation.New(cloudformation.Options{
		Client: cfn.NewFromConfig(f.Config(srv.URL)), Catalog: sqsCatalog(t), Templates: sqsTemplates(), BrokerID: "fake-test",
	}, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeEnv{clock: c, cf: f, stacks: s}
}

func (e *fakeEnv) op(id string, kind provisioner.Kind) *provisioner.Operation {
	return &provisioner.Operation{ID: id, Kind: kind, State: provisioner.InProgress, CreatedAt: e.clock.Now()}
}

func (e *fakeEnv) observe(t *testing.T, inst *provisioner.Instance, o *provisioner.Operation) provisioner.Observation {
	t.Helper()
	obs, err := e.stacks.Observe(context.Background(), provisioner.ObserveRequest{Instance: inst, Operation: o})
	if err != nil {
		t.Fatalf("Observe %s: %v", o.Kind, err)
	}
	return obs
}

func sqsInstance(id string) *provisioner.Instance {
	return &provisioner.Instance{ID: id, ServiceID: sqsServiceID, PlanID: sqsPlanID,
		Parameters: map[string]any{"Retention": 60, "Label": "x"}}
}

func TestFakeCreateRollbackRootCause(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		return provisionertest.Script{Delay: time.Minute, RollbackDelay: time.Minute, Fail: true, FailedResources: []provisionertest.ResourceFailure{
			{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "Access denied for sqs:CreateQueue"},
			{LogicalID: "Policy", Type: "AWS::SQS::QueuePolicy"}, // cascade: "Resource creation cancelled"
		}}
	}})
	inst := sqsInstance("i-rollback")
	o := e.op("p-1", provisioner.KindProvision)
	st, err := e.stacks.Create(context.Background(), o, inst)
	if err != nil {
		t.Fatal(err)
	}
	inst.Resource = st.Resource
	if obs := e.observe(t, inst, o); obs.State != provisioner.InProgress || obs.Status != "CREATE_IN_PROGRESS" {
		t.Errorf("at once: %+v", obs)
	}
	e.clock.Advance(90 * time.Second)
	if obs := e.observe(t, inst, o); obs.State != provisioner.InProgress || obs.Status != "ROLLBACK_IN_PROGRESS" {
		t.Errorf("rolling back: %+v, want in progress", obs)
	}
	e.clock.Advance(time.Minute)
	obs := e.observe(t, inst, o)
	want := "Queue (AWS::SQS::Queue): Access denied for sqs:CreateQueue"
	if obs.State != provisioner.Failed || obs.Status != "ROLLBACK_COMPLETE" || obs.Description != want {
		t.Errorf("rolled back: %+v, want failed with %q", obs, want)
	}
}

// TestFakeRecreateAfterFailedCreate: a new provision of an instance whose
// earlier create rolled back deletes the failed stack, then creates anew.
func TestFakeRecreateAfterFailedCreate(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action == "CreateStack" && op.Attempt == 1 {
			return provisionertest.Script{Delay: time.Minute, Fail: true}
		}
		if op.Action == "DeleteStack" {
			return provisionertest.Script{Delay: time.Minute}
		}
		return provisionertest.Script{Delay: time.Minute, Outputs: map[string]string{"QueueURL": "https://q"}}
	}})
	ctx := context.Background()
	inst := sqsInstance("i-recreate")
	first := e.op("p-first", provisioner.KindProvision)
	st1, err := e.stacks.Create(ctx, first, inst)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if obs := e.observe(t, &provisioner.Instance{ID: inst.ID, ServiceID: sqsServiceID, Resource: st1.Resource}, first); obs.State != provisioner.Failed {
		t.Fatalf("first create: %+v, want failed", obs)
	}

	second := e.op("p-second", provisioner.KindProvision)
	_, err = e.stacks.Create(ctx, second, inst)
	if !errors.Is(err, cloudformation.ErrRecreating) || !provisioner.IsRetryable(err) {
		t.Fatalf("create over the failed stack: %v, want retryable ErrRecreating", err)
	}
	_, err = e.stacks.Create(ctx, second, inst) // still being deleted
	if !errors.Is(err, cloudformation.ErrRecreating) || !provisioner.IsRetryable(err) {
		t.Fatalf("create while the failed stack is deleted: %v, want retryable ErrRecreating", err)
	}
	e.clock.Advance(2 * time.Minute)
	st2, err := e.stacks.Create(ctx, second, inst)
	if err != nil || st2.Resource == "" || st2.Resource == st1.Resource {
		t.Fatalf("create after the delete: %+v, %v; want a new stack", st2, err)
	}
	e.clock.Advance(2 * time.Minute)
	if obs := e.observe(t, &provisioner.Instance{ID: inst.ID, ServiceID: sqsServiceID, Resource: st2.Resource}, second); obs.State != provisioner.Succeeded || obs.Outputs["QueueURL"] != "https://q" {
		t.Errorf("second create: %+v, want succeeded with outputs", obs)
	}
}

// TestFakeUpdateFailuresAreTheirOwn: an update that fails after an
// earlier failed update reports only its own root cause.
func TestFakeUpdateFailuresAreTheirOwn(t *testing.T) {
	t.Parallel()
	causes := map[string]string{}
	var mu sync.Mutex
	e := newFake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action != "UpdateStack" {
			return provisionertest.Script{}
		}
		mu.Lock()
		defer mu.Unlock()
		return provisionertest.Script{Delay: time.Minute, RollbackDelay: time.Minute, CleanupDelay: time.Minute, Fail: true,
			FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: causes[op.ClientRequestToken]}}}
	}})
	ctx := context.Background()
	inst := sqsInstance("i-updates")
	st, err := e.stacks.Create(ctx, e.op("p-1", provisioner.KindProvision), inst)
	if err != nil {
		t.Fatal(err)
	}
	inst.Resource = st.Resource
	for i, cause := range []string{"the first update's cause", "the second update's cause"} {
		e.clock.Advance(time.Minute)
		o := e.op(fmt.Sprintf("u-%d", i), provisioner.KindUpdate)
		mu.Lock()
		causes[o.ID] = cause
		mu.Unlock()
		if _, err := e.stacks.Update(ctx, o, inst, provisioner.Change{Parameters: map[string]any{"Retention": 100 + i}}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		e.clock.Advance(90 * time.Second)
		if obs := e.observe(t, inst, o); obs.State != provisioner.InProgress {
			t.Errorf("update %d rolling back: %+v, want in progress", i, obs)
		}
		e.clock.Advance(5 * time.Minute)
		obs := e.observe(t, inst, o)
		want := "Queue (AWS::SQS::Queue): " + cause
		if obs.State != provisioner.Failed || obs.Status != "UPDATE_ROLLBACK_COMPLETE" || obs.Description != want ||
			obs.InstanceUsable == nil || !*obs.InstanceUsable || obs.UpdateRepeatable == nil || !*obs.UpdateRepeatable {
			t.Errorf("update %d: %+v, want failed, usable, repeatable, %q", i, obs, want)
		}
	}
}

func TestFakeUpdateRollbackFailed(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action == "UpdateStack" {
			return provisionertest.Script{Delay: time.Minute, Fail: true, FinalStatus: "UPDATE_ROLLBACK_FAILED",
				FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "boom"}}}
		}
		return provisionertest.Script{}
	}})
	ctx := context.Background()
	inst := sqsInstance("i-urf")
	st, _ := e.stacks.Create(ctx, e.op("p", provisioner.KindProvision), inst)
	inst.Resource = st.Resource
	o := e.op("u", provisioner.KindUpdate)
	if _, err := e.stacks.Update(ctx, o, inst, provisioner.Change{Parameters: map[string]any{"Label": "y"}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	obs := e.observe(t, inst, o)
	if obs.State != provisioner.Failed || obs.InstanceUsable == nil || *obs.InstanceUsable || obs.Description != "Queue (AWS::SQS::Queue): boom" {
		t.Errorf("UPDATE_ROLLBACK_FAILED: %+v, want failed, not usable, the root cause", obs)
	}
	// The next update is refused: the stack needs an operator.
	_, err := e.stacks.Update(ctx, e.op("u2", provisioner.KindUpdate), inst, provisioner.Change{})
	var te *provisioner.TerminalError
	if !errors.Is(err, cloudformation.ErrNotUpdatable) || !errors.As(err, &te) || te.Reason != provisioner.ReasonRefused {
		t.Errorf("update of UPDATE_ROLLBACK_FAILED: %v, want terminal ErrNotUpdatable", err)
	}
}

// TestFakeUpdateInProgress: the same update repeated (after a crash) is
// accepted; another one is refused as busy.
func TestFakeUpdateInProgress(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{DefaultDelay: time.Minute})
	ctx := context.Background()
	inst := sqsInstance("i-busy")
	st, _ := e.stacks.Create(ctx, e.op("p", provisioner.KindProvision), inst)
	inst.Resource = st.Resource
	e.clock.Advance(2 * time.Minute)
	o := e.op("u-1", provisioner.KindUpdate)
	change := provisioner.Change{Parameters: map[string]any{"Retention": 120}}
	if _, err := e.stacks.Update(ctx, o, inst, change); err != nil {
		t.Fatal(err)
	}
	if st, err := e.stacks.Update(ctx, o, inst, change); err != nil || st.Done || st.Resource != inst.Resource {
		t.Errorf("the same update again: %+v, %v; want accepted", st, err)
	}
	_, err := e.stacks.Update(ctx, e.op("u-2", provisioner.KindUpdate), inst, provisioner.Change{Parameters: map[string]any{"Retention": 180}})
	if !errors.Is(err, cloudformation.ErrBusy) {
		t.Errorf("another update meanwhile: %v, want ErrBusy", err)
	}
	e.clock.Advance(2 * time.Minute)
	if obs := e.observe(t, inst, o); obs.State != provisioner.Succeeded {
		t.Errorf("after the update: %+v", obs)
	}
	if s, _ := e.cf.Stack(inst.Resource); s.Parameters["Retention"] != "120" || s.Parameters["Label"] != "x" {
		t.Errorf("parameters after the update: Retention %q, Label %q", s.Parameters["Retention"], s.Parameters["Label"])
	}
}

// TestFakeDeleteFailedThenRetain: a failed delete is a failed deprovision
// with an unusable instance; the next one retains what failed.
func TestFakeDeleteFailedThenRetain(t *testing.T) {
	t.Parallel()
	var retained [][]string
	var mu sync.Mutex
	e := newFake(t, provisionertest.Options{Script: func(op provisionertest.Op) provisionertest.Script {
		if op.Action != "DeleteStack" {
			return provisionertest.Script{}
		}
		mu.Lock()
		retained = append(retained, op.RetainResources)
		mu.Unlock()
		if op.Attempt == 1 {
			return provisionertest.Script{Delay: time.Minute, Fail: true, FailedResources: []provisionertest.ResourceFailure{
				{LogicalID: "Bucket", Type: "AWS::S3::Bucket", Reason: "The bucket you tried to delete is not empty"},
			}}
		}
		return provisionertest.Script{Delay: time.Minute}
	}}, func(o *cloudformation.Options) { o.RetainResourcesOnDeleteFailure = true })
	ctx := context.Background()
	inst := sqsInstance("i-delete")
	st, _ := e.stacks.Create(ctx, e.op("p", provisioner.KindProvision), inst)
	inst.Resource = st.Resource
	d1 := e.op("d-1", provisioner.KindDeprovision)
	if _, err := e.stacks.Delete(ctx, d1, inst); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	obs := e.observe(t, inst, d1)
	if obs.State != provisioner.Failed || obs.Status != "DELETE_FAILED" || obs.InstanceUsable == nil || *obs.InstanceUsable ||
		obs.Description != "Bucket (AWS::S3::Bucket): The bucket you tried to delete is not empty" {
		t.Errorf("failed delete: %+v", obs)
	}
	d2 := e.op("d-2", provisioner.KindDeprovision)
	if _, err := e.stacks.Delete(ctx, d2, inst); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if obs := e.observe(t, inst, d2); obs.State != provisioner.Succeeded {
		t.Errorf("second delete: %+v", obs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(retained) != 2 || len(retained[0]) != 0 || strings.Join(retained[1], ",") != "Bucket" {
		t.Errorf("RetainResources per delete: %q, want none then [Bucket]", retained)
	}
}

func TestFakeQuotaAndCapabilities(t *testing.T) {
	t.Parallel()
	c := newClock()
	f, srv := provisionertest.NewServer(t, provisionertest.Options{Clock: c.Now, StackLimit: 1, RequiredCapabilities: []string{"CAPABILITY_IAM"}})
	var calls int
	var mu sync.Mutex
	limiter := rate.NewLimiter(rate.Inf, 1)
	client := cloudformation.NewClient(f.Config(srv.URL), limiter, func(o *cfn.Options) {
		o.APIOptions = append(o.APIOptions, countAttempts(&mu, &calls))
	})
	templates := sqsTemplates()
	tm := templates[sqsPlanID]
	tm.Capabilities = []string{"CAPABILITY_IAM"}
	templates[sqsPlanID] = tm
	s, err := cloudformation.New(cloudformation.Options{Client: client, Catalog: sqsCatalog(t), Templates: templates})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op := func(id string) *provisioner.Operation {
		return &provisioner.Operation{ID: id, Kind: provisioner.KindProvision, CreatedAt: c.Now()}
	}
	if _, err := s.Create(ctx, op("p-1"), sqsInstance("i-q1")); err != nil {
		t.Fatalf("first create (with the capability): %v", err)
	}
	mu.Lock()
	calls = 0
	mu.Unlock()
	_, err = s.Create(ctx, op("p-2"), sqsInstance("i-q2"))
	var te *provisioner.TerminalError
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonRefused {
		t.Errorf("create beyond the quota: %v, want terminal ReasonRefused", err)
	}
	mu.Lock()
	if calls != 1 {
		t.Errorf("%d attempts for a quota error, want 1 (NewRetryer does not retry it)", calls)
	}
	mu.Unlock()

	// Without the capability.
	tm.Capabilities = nil
	templates[sqsPlanID] = tm
	if _, err := s.Delete(ctx, &provisioner.Operation{ID: "d-1", Kind: provisioner.KindDeprovision}, &provisioner.Instance{ID: "i-q1", ServiceID: sqsServiceID, PlanID: sqsPlanID}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(ctx, op("p-3"), sqsInstance("i-q3"))
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
		t.Errorf("create without a required capability: %v, want terminal ReasonInvalid", err)
	}
}

// TestFakeStatusesOverTheWire forces each of the 23 statuses and observes
// it for each kind, through the real SDK deserializer.
func TestFakeStatusesOverTheWire(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{})
	ctx := context.Background()
	for _, status := range types.StackStatus("").Values() {
		inst := sqsInstance("i-" + strings.ToLower(strings.ReplaceAll(string(status), "_", "-")))
		st, err := e.stacks.Create(ctx, e.op("p-"+inst.ID, provisioner.KindProvision), inst)
		if err != nil {
			t.Fatal(err)
		}
		inst.Resource = st.Resource
		if err := e.cf.SetStatus(st.Resource, string(status)); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []provisioner.Kind{provisioner.KindProvision, provisioner.KindUpdate, provisioner.KindDeprovision} {
			obs := e.observe(t, inst, e.op("o-"+inst.ID, kind))
			want := cloudformation.Judge(kind, string(status))
			if obs.Status != string(status) || obs.State != want.State {
				t.Errorf("%s for %s: %s %s, want %s", status, kind, obs.Status, obs.State, want.State)
			}
			if obs.State == provisioner.Failed && obs.Description == "" {
				t.Errorf("%s for %s: failed without a description", status, kind)
			}
		}
	}
}

func TestFakeObserveBatch(t *testing.T) {
	t.Parallel()
	e := newFake(t, provisionertest.Options{PageSize: 50, DefaultDelay: time.Minute}, func(o *cloudformation.Options) { o.BatchMin = 10 })
	ctx := context.Background()
	const n = 60
	reqs := make([]provisioner.ObserveRequest, n)
	for i := range reqs {
		inst := sqsInstance(fmt.Sprintf("i-batch-%02d", i))
		o := e.op(fmt.Sprintf("p-batch-%02d", i), provisioner.KindProvision)
		st, err := e.stacks.Create(ctx, o, inst)
		if err != nil {
			t.Fatal(err)
		}
		inst.Resource = st.Resource
		reqs[i] = provisioner.ObserveRequest{Instance: inst, Operation: o}
	}
	before := e.cf.Calls()
	obs, errs := e.stacks.ObserveBatch(ctx, reqs)
	for i := range reqs {
		if errs[i] != nil || obs[i].State != provisioner.InProgress {
			t.Fatalf("stack %d: %+v, %v", i, obs[i], errs[i])
		}
	}
	e.clock.Advance(2 * time.Minute)
	obs, _ = e.stacks.ObserveBatch(ctx, reqs)
	for i := range reqs {
		if obs[i].State != provisioner.Succeeded {
			t.Errorf("stack %d: %+v", i, obs[i])
		}
	}
	after := e.cf.Calls()
	if got := after["DescribeStacks"] - before["DescribeStacks"]; got != 4 {
		t.Errorf("%d DescribeStacks calls for two rounds over 60 stacks in pages of 50, want 4", got)
	}
}

// TestFakeFaults: with 30% of calls throttled and 5% answering 500, every
// operation still reaches its terminal state when retryable errors are
// retried, as the Tracker does.
func TestFakeFaults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	e := newFake(t, provisionertest.Options{
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" && strings.HasSuffix(op.StackName, "7") {
				return provisionertest.Script{Delay: time.Minute, Fail: true}
			}
			return provisionertest.Script{Delay: time.Minute}
		},
		Fault: func(provisionertest.Call) *provisionertest.Fault {
			mu.Lock()
			r := rng.Float64()
			mu.Unlock()
			switch {
			case r < 0.30:
				return provisionertest.Throttling()
			case r < 0.35:
				f := provisionertest.InternalFailure()
				f.Applied = r < 0.325 // half of them after the call took effect
				return f
			}
			return nil
		},
		MaxAttempts: 2,
	})
	ctx := context.Background()
	retry := func(what string, fn func() error) {
		t.Helper()
		for range 50 {
			err := fn()
			if err == nil {
				return
			}
			if !provisioner.IsRetryable(err) {
				t.Fatalf("%s: %v", what, err)
			}
		}
		t.Fatalf("%s: still failing after 50 tries", what)
	}
	const n = 40
	insts := make([]*provisioner.Instance, n)
	ops := make([]*provisioner.Operation, n)
	for i := range insts {
		insts[i] = sqsInstance(fmt.Sprintf("i-fault-%02d", i))
		ops[i] = e.op(fmt.Sprintf("p-fault-%02d", i), provisioner.KindProvision)
		retry("create", func() error {
			st, err := e.stacks.Create(ctx, ops[i], insts[i])
			insts[i].Resource = st.Resource
			return err
		})
	}
	e.clock.Advance(2 * time.Minute)
	for i := range insts {
		var obs provisioner.Observation
		retry("observe", func() (err error) {
			obs, err = e.stacks.Observe(ctx, provisioner.ObserveRequest{Instance: insts[i], Operation: ops[i]})
			return err
		})
		want := provisioner.Succeeded
		if strings.HasSuffix(insts[i].ID, "7") {
			want = provisioner.Failed
		}
		if obs.State != want {
			t.Errorf("%s: %+v, want %s", insts[i].ID, obs, want)
		}
	}
	// Exactly one stack per instance, despite lost answers.
	if got := len(e.cf.Stacks()); got != n {
		t.Errorf("%d stacks for %d instances", got, n)
	}
}

// countAttempts returns an APIOptions entry counting attempts (a Finalize
// middleware after the retry middleware).
func countAttempts(mu *sync.Mutex, n *int) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("countAttempts", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			mu.Lock()
			*n++
			mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), "Retry", middleware.After)
	}
}
